/**
 * Writeback in steps while a copy fills a file (a tape being written, a mirror's secondary being
 * copied): after every `stepBytes` written, an fdatasync of the file starts on libuv's thread pool
 * (never on the owning thread, never on a copy worker), one at a time, so that a copy faster than
 * the disk does not pile them up. Without it the kernel may keep the whole file dirty (its
 * background writeback starts only at a share of memory), and the closing fsync, the one that makes
 * the copy durable, then pushes gigabytes at once: long, and it stalls every other write to the disk.
 *
 * A step only saves time, it never stands for durability: a step that fails is not an error of the
 * copy, and the closing fsync says whether the file is durable (every open descriptor of a file
 * sees a writeback error). The steps run on a descriptor of their own, opened once.
 *
 * For a copy loop that keeps the event loop (async). A loop that runs synchronously to its end (the
 * restore's stream) starts its writeback on a thread of its own instead (restore/hash-worker.ts).
 */
import { open, type FileHandle } from 'node:fs/promises';

export class SteppedWriteback {
  private handle: Promise<FileHandle | undefined> | undefined;
  private flushedAtBytes = 0;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  /** Writebacks started so far. */
  flushes = 0;

  constructor(
    private readonly path: string,
    private readonly stepBytes: number,
  ) {}

  /** `totalBytes` were written so far: starts a writeback once a step's worth was written since the last. */
  reached(totalBytes: number): void {
    if (this.closed || this.inFlight !== undefined || totalBytes - this.flushedAtBytes < this.stepBytes) return;
    this.flushedAtBytes = totalBytes;
    this.flushes += 1;
    this.inFlight = this.flushOnce().finally(() => {
      this.inFlight = undefined;
    });
  }

  /** Waits for the writeback in flight, then closes the file; no writeback starts after. */
  async close(): Promise<void> {
    this.closed = true;
    await this.inFlight;
    await (await this.handle)?.close().catch(() => undefined);
  }

  private async flushOnce(): Promise<void> {
    this.handle ??= open(this.path, 'r').catch(() => undefined);
    const handle = await this.handle;
    // Linux writes back the file's dirty pages whichever descriptor asks.
    await handle?.datasync().catch(() => undefined);
  }
}
