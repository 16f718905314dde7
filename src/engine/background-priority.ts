/**
 * The copy pool's threads run at a lower CPU priority than the thread that owns the volume. They
 * copy in the background; the owning thread runs the host's writes (and a copy-before-write inside
 * one). With a copy worker on every core, a host write otherwise waits for a core behind them:
 * measured on 2 cores, the owning thread sat runnable but not running for 1-12 ms at a time during
 * a backup's copy, which is the host write p99 (bench/RESULTS.md section 11). With the workers a
 * few nice steps down, the scheduler gives the owning thread a core as soon as it wakes; a copy
 * that has the cores to itself runs as fast as before, since nice only weighs threads that compete.
 *
 * Linux only: there the nice value is a per-thread attribute (setpriority of "process" 0 is the
 * calling thread). Elsewhere it is the whole process's, so nothing is changed. A thread only ever
 * lowers itself (an unprivileged process may), relative to where it started (a worker inherits the
 * nice value of the thread that made it), so `nice -n 5 snaptape ...` stays 5 steps apart too.
 *
 * The copy worker's entry (copy-worker-entry.cts) calls it once per thread, after loading the copy;
 * the tape backup's own scripts on the pool (its digest pass and its finish:
 * tape-backup/finish-tape-entry.cts) call it too, since they may run on a thread beside the copy
 * workers that never copied.
 */
import { getPriority, setPriority } from 'node:os';

/** How many nice steps the copy pool's threads run below the owning thread. */
export const BACKGROUND_NICE_STEP = 10;
/** The lowest priority there is (the highest nice value). */
const LOWEST_PRIORITY = 19;

/** Set once this thread has lowered itself (each thread has its own copy of this module). */
let lowered: boolean | undefined;

/**
 * Lowers the calling thread to background priority, once per thread, however often it is asked.
 * False where that cannot be done per thread.
 */
export function runThisThreadInBackground(): boolean {
  if (lowered !== undefined) return lowered;
  lowered = false;
  if (process.platform !== 'linux') return lowered;
  try {
    setPriority(Math.min(LOWEST_PRIORITY, getPriority(0) + BACKGROUND_NICE_STEP));
    lowered = true;
  } catch {
    // A sandbox that refuses setpriority: the copy still runs, only without the lower priority.
  }
  return lowered;
}
