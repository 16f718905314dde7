/**
 * Where one file's reads "in flight" run: in line on the calling thread, or on libuv's thread pool.
 * The NBD server keeps several READs in flight (Volume.readFlatIntoAsync); which of the two is
 * faster depends on whether the bytes are in the page cache:
 * - cached, a read is a copy of memory: in line it costs that copy and nothing else; on the pool it
 *   costs the same copy plus a hand-over to a pool thread and back, which on 2 cores takes the core
 *   from the thread that submitted it. Measured on a cached 2.85 GB export read by `nbdcopy
 *   --connections=4` (bench/RESULTS.md section 4): on the pool, about 1.5× the time and the server
 *   CPU of reads in line;
 * - not cached, a read waits for the disk: in line, every connection and the host writes wait with
 *   it; on the pool, the owning thread goes on and several reads keep the disk busy.
 *
 * Decision: reads run in line while they are fast; one that takes longer than INLINE_READ_LIMIT_MS
 * (it waited for the disk, or the thread lost its core) moves the file's reads to the pool; they
 * come back in line once POOL_READS_TO_RETURN reads in a row on the pool each completed within that
 * limit (their bytes were cached again). So at most one read in line waits for the disk before the
 * reads go to the pool, and a cached export pays no hand-over. A read larger than
 * INLINE_READ_MAX_BYTES always runs on the pool: in line it would hold the thread too long even
 * when cached.
 *
 * Main thread only (the thread that owns the file's volume).
 */

/** A read in line that takes longer than this moves the file's reads to the pool. */
export const INLINE_READ_LIMIT_MS = 2;
/** Reads in a row on the pool, each within INLINE_READ_LIMIT_MS, that bring the reads back in line. */
export const POOL_READS_TO_RETURN = 16;
/** Larger reads always run on the pool. */
export const INLINE_READ_MAX_BYTES = 4 * 1024 * 1024;

export type ReadPlace = 'inline' | 'pool';

export class ReadPlacement {
  // Set once.
  private readonly now: () => number;
  // Main thread only.
  private place: ReadPlace = 'inline';
  private fastOnPool = 0;
  /** Reads run in line and on the pool so far, and the moves from in line to the pool. */
  readonly counts = { inline: 0, pool: 0, movesToPool: 0 };

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  /** Where the next read of a few bytes goes. */
  get current(): ReadPlace {
    return this.place;
  }

  /** Sends the next reads to the pool (as a slow read in line does). */
  moveToPool(): void {
    if (this.place === 'pool') return;
    this.place = 'pool';
    this.fastOnPool = 0;
    this.counts.movesToPool += 1;
  }

  /**
   * Reads `lengthBytes` with `inline` (synchronous) or `pooled` (on the pool), as the file's recent
   * reads decide, and learns from how long it took. Either one's failure rejects the promise.
   */
  async read(lengthBytes: number, inline: () => void, pooled: () => Promise<void>): Promise<void> {
    const started = this.now();
    if (this.place === 'inline' && lengthBytes <= INLINE_READ_MAX_BYTES) {
      this.counts.inline += 1;
      inline();
      if (this.now() - started > INLINE_READ_LIMIT_MS) this.moveToPool();
      return;
    }
    this.counts.pool += 1;
    await pooled();
    if (lengthBytes > INLINE_READ_MAX_BYTES || this.place === 'inline') return;
    if (this.now() - started > INLINE_READ_LIMIT_MS) {
      this.fastOnPool = 0;
      return;
    }
    this.fastOnPool += 1;
    if (this.fastOnPool >= POOL_READS_TO_RETURN) this.place = 'inline';
  }
}
