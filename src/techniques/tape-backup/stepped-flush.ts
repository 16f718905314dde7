/**
 * Flushes the tape in steps while the copy writes it: after every `stepBytes` copied, an fdatasync
 * of the tape file on libuv's thread pool (never on the owning thread, never on a copy worker),
 * one at a time. Without it the kernel may keep the whole tape dirty (its background writeback
 * starts only at a share of memory), and the last step's fsync then pushes gigabytes at once,
 * which is long and stalls every other write to the disk meanwhile.
 *
 * A step that fails is not an error of the backup: the last step's fsync of the tape says whether
 * the tape is durable, and reports the failure if it is not.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** Bytes copied between two flushes of the tape. */
export const FLUSH_STEP_BYTES = 128 * 1024 * 1024;

export class SteppedFlush {
  private handle: Promise<FileHandle | undefined> | undefined;
  private flushedAtBytes = 0;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  /** Flushes started so far. */
  flushes = 0;

  constructor(
    private readonly path: string,
    private readonly stepBytes = FLUSH_STEP_BYTES,
  ) {}

  /** Told the bytes copied so far: starts a flush once a step's worth was copied since the last. */
  note(copiedBytes: number): void {
    if (this.closed || this.inFlight !== undefined || copiedBytes - this.flushedAtBytes < this.stepBytes) return;
    this.flushedAtBytes = copiedBytes;
    this.flushes += 1;
    this.inFlight = this.flushOnce().finally(() => {
      this.inFlight = undefined;
    });
  }

  /** Waits for the flush in flight, then closes the file; no flush starts after. */
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
