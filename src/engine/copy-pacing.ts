/**
 * Pacing of a copy loop: a rate cap (bytes per second) and a pause after M consecutive copies so
 * that application I/O gets through (the "pause after M" of the copy technique). Sleeping uses
 * Atomics.wait on a private word, which a worker thread may do.
 */
import type { CopyPacing } from './copy-task.js';

export interface PacingState {
  readonly options: CopyPacing;
  readonly startedMs: number;
  bytes: number;
  sinceLastPause: number;
  readonly sleeper: Int32Array;
}

/** Longest single sleep, so that a cancel is noticed promptly. */
const MAX_SLEEP_MS = 200;

export function pacingState(options: CopyPacing): PacingState {
  return { options, startedMs: Date.now(), bytes: 0, sinceLastPause: 0, sleeper: new Int32Array(new SharedArrayBuffer(4)) };
}

export function sleepMs(state: PacingState, ms: number): void {
  if (ms > 0) Atomics.wait(state.sleeper, 0, 0, Math.min(ms, MAX_SLEEP_MS));
}

/**
 * Called after each batch with the bytes and blocks it handled. Sleeps in slices of at most
 * MAX_SLEEP_MS until the rate cap is met, checking `stopped` between slices (a cancel or pause).
 */
export function pace(state: PacingState, bytes: number, blocks: number, stopped: () => boolean = () => false): void {
  state.bytes += bytes;
  state.sinceLastPause += blocks;
  const { bytesPerSecond, pauseAfterCopies, pauseMs } = state.options;
  if (pauseAfterCopies > 0 && state.sinceLastPause >= pauseAfterCopies) {
    state.sinceLastPause = 0;
    sleepMs(state, pauseMs);
  }
  if (bytesPerSecond > 0) {
    const dueMs = (state.bytes / bytesPerSecond) * 1000;
    // Bounded: each slice sleeps, and the deadline does not move while sleeping.
    for (let aheadMs = dueMs - (Date.now() - state.startedMs); aheadMs > 0 && !stopped(); aheadMs = dueMs - (Date.now() - state.startedMs)) {
      sleepMs(state, aheadMs);
    }
  }
}
