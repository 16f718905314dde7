/**
 * Where one file's reads "in flight" (and its small writes) run: in line on the calling thread, or on
 * libuv's thread pool.
 * The NBD server keeps several READs in flight (Volume.readFlatIntoAsync); which of the two is
 * faster depends on whether the page cache holds the bytes:
 * - cached, a read is a copy of memory: in line it costs that copy and nothing else; on the pool it
 *   costs the same copy plus a hand-over to a pool thread and back, which on 2 cores takes the core
 *   from the thread that submitted it;
 * - not cached, a read waits for the disk: in line, every connection and the host writes wait with
 *   it; on the pool, the owning thread goes on and several reads keep the disk busy.
 *
 * Decision: the file's reads run in line while they are fast; one that takes longer than
 * INLINE_LIMIT_MS (it waited for the disk, or the thread lost its core) moves them to the pool; they
 * come back in line once POOL_RUNS_TO_RETURN in a row on the pool each completed within that limit.
 * So at most one read in line waits for the disk before they move, and a cached export pays no
 * hand-over. One larger than INLINE_MAX_BYTES always runs on the pool: in line it would hold the
 * thread too long even when cached. Measured on the 2.85 GB export read by `nbdcopy
 * --connections=4` (bench/RESULTS.md section 4, two runs of 5 interleaved rounds): as fast as
 * qemu-nbd within the runs' spread (0.95-1.02×), at 1.03-1.21× its CPU; the build before, all on
 * the pool, took 1.21-1.31× the time cold and about the same cached (0.98-1.06×), at 1.24-1.34× and
 * 1.11-1.14× the CPU of reads placed this way.
 *
 * Writes larger than WRITE_INLINE_MAX_BYTES stay on the pool (SlotFile.writeUnitsAsync): placed the
 * same way they were 1.43× slower on a cold image, where the kernel holds writes back at its dirty
 * limit whatever the last one took. Smaller ones (a track's used bytes from a mirror link, a zero
 * fill's page) are placed by this rule, with a placement of their own: for them the hand-over to a
 * pool thread and back costs more than the copy into the page cache, and a remote mirror's copy of
 * sparse tracks makes one per track (bench/RESULTS.md section 7: the secondary's server used about
 * 30% less CPU). One that the dirty limit holds back moves the file's small writes to the pool.
 *
 * Main thread only (the thread that owns the file's volume).
 */

/** A read in line that takes longer than this moves the file's reads to the pool. */
export const INLINE_LIMIT_MS = 2;
/** Runs in a row on the pool, each within INLINE_LIMIT_MS, that bring them back in line. */
export const POOL_RUNS_TO_RETURN = 16;
/** Larger reads always run on the pool. */
export const INLINE_MAX_BYTES = 4 * 1024 * 1024;
/** Larger writes always run on the pool: a 3390 track slot (56,832 bytes) and less may run in line. */
export const WRITE_INLINE_MAX_BYTES = 64 * 1024;

export type IoPlace = 'inline' | 'pool';

export class IoPlacement {
  // Set once.
  private readonly now: () => number;
  /** Larger ones always run on the pool. */
  private readonly maxInlineBytes: number;
  // Main thread only.
  private place: IoPlace = 'inline';
  private fixed: IoPlace | undefined;
  private fastOnPool = 0;
  /** Runs in line and on the pool so far, and the moves from in line to the pool. */
  readonly counts = { inline: 0, pool: 0, movesToPool: 0 };

  constructor(now: () => number = () => performance.now(), maxInlineBytes: number = INLINE_MAX_BYTES) {
    this.now = now;
    this.maxInlineBytes = maxInlineBytes;
  }

  /** Where the next read of a few bytes goes. */
  get current(): IoPlace {
    return this.place;
  }

  /**
   * Fixes where every read runs from now on (tests that need reads on the pool, or in line), or,
   * with undefined, lets the rule decide again.
   */
  fix(place: IoPlace | undefined): void {
    this.fixed = place;
    if (place !== undefined) this.place = place;
    this.fastOnPool = 0;
  }

  /** Sends the next ones to the pool (as a slow one in line does). */
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
  async run(lengthBytes: number, inline: () => void, pooled: () => Promise<void>): Promise<void> {
    const started = this.now();
    if (this.place === 'inline' && (lengthBytes <= this.maxInlineBytes || this.fixed === 'inline')) {
      this.counts.inline += 1;
      inline();
      if (this.fixed === undefined && this.now() - started > INLINE_LIMIT_MS) this.moveToPool();
      return;
    }
    this.counts.pool += 1;
    await pooled();
    if (this.fixed !== undefined || lengthBytes > this.maxInlineBytes || this.place === 'inline') return;
    if (this.now() - started > INLINE_LIMIT_MS) {
      this.fastOnPool = 0;
      return;
    }
    this.fastOnPool += 1;
    if (this.fastOnPool >= POOL_RUNS_TO_RETURN) this.place = 'inline';
  }
}
