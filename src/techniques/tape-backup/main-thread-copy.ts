/**
 * The copy loop for backends whose units worker threads cannot read by file offset (`location()`
 * is `main-thread`: CCKD, multi-file, mapped volumes). The session's own thread copies every slot that
 * is still PENDING, a batch at a time, and yields to the event loop between batches so host writes
 * (which run on the same thread) go on meanwhile.
 *
 * Why this is sound without further locking: a host write, its copy-before-write and this loop's
 * claim-read-write-complete of one slot all run to completion on one thread, so the loop never
 * reads a store (a compressed file's L1/L2 tables) that a host write is changing, and a slot it
 * claims is one no host write has touched since the start instant (such a slot is COPIED_OOO).
 *
 * Invariant: a slot this loop claimed is completed or released before it yields.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SnaptapeError } from '../../errors/snaptape-error.js';
import type { CopyTaskResult } from '../../engine/copy-task.js';
import { CONTROL, type TrackStateArray } from '../../engine/track-state.js';

/** Slots copied between two yields: one cylinder, so a host write waits at most one batch. */
export const MAIN_THREAD_BATCH_SLOTS = 15;
/** How often a paused loop looks at the control word again. */
const PAUSE_POLL_MS = 50;

export interface MainThreadCopyOptions {
  readonly states: TrackStateArray;
  /** Reads slot `slot`'s bytes and writes them to the tape (in order); returns the bytes written. */
  readonly copySlot: (slot: number) => number;
}

export async function copyOnMainThread(options: MainThreadCopyOptions): Promise<CopyTaskResult> {
  const { states } = options;
  let copied = 0;
  let skipped = 0;
  let bytes = 0;
  for (let first = 0; first < states.unitCount; first += MAIN_THREAD_BATCH_SLOTS) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Bounded by cancel: a paused session is resumed or cancelled by its owner.
    while (states.control === CONTROL.PAUSE) await sleep(PAUSE_POLL_MS);
    if (states.control === CONTROL.CANCEL) break;
    const end = Math.min(states.unitCount, first + MAIN_THREAD_BATCH_SLOTS);
    for (let slot = first; slot < end; slot++) {
      if (!states.tryClaim(slot)) {
        skipped++;
        continue;
      }
      try {
        bytes += options.copySlot(slot);
        copied++;
      } catch (error) {
        states.release(slot);
        const data = error instanceof SnaptapeError
          ? error.toData()
          : { code: 'IO' as const, message: `Cannot copy slot ${slot}: ${error instanceof Error ? error.message : String(error)}`, details: { slot } };
        return { copied, skipped, bytes, error: data };
      }
    }
  }
  return { copied, skipped, bytes };
}
