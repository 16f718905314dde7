/**
 * Writeback of a local secondary during the mirror's background copy. The copy ends with an fsync
 * of the secondary (the "in sync" it then records must be durable), and with every byte of a full
 * copy still dirty in the page cache that fsync was a third of a local initial copy. Every
 * MIRROR_WRITEBACK_BYTES copied, an fdatasync starts on libuv's pool (base/file-io.ts
 * `startWriteback`), so the disk writes while the copy goes on and the closing fsync waits for
 * little. One at a time: a copy faster than the disk does not pile them up.
 */
import { startWriteback } from '../../base/file-io.js';
import { MIRROR_WRITEBACK_BYTES } from './mirror-limits.js';

export class SecondaryWriteback {
  // Set once.
  private readonly path: string;
  // Main thread only.
  private written = 0;
  private running = false;

  constructor(path: string) {
    this.path = path;
  }

  /** `bytes` more were written to the secondary. */
  wrote(bytes: number): void {
    this.written += bytes;
    if (this.written < MIRROR_WRITEBACK_BYTES || this.running) return;
    this.written = 0;
    this.running = true;
    void startWriteback(this.path).finally(() => {
      this.running = false;
    });
  }
}
