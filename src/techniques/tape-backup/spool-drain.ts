/**
 * Drains a backup's spool (backup-spool.ts) onto the tape, in the background on the owning thread:
 * each spooled slot's start-instant bytes go to the slot's mapped tape position through the engine's
 * unit copy (the spool is its source), the slot becomes COPIED_OOO, and only then is its entry forgotten and the bitmap told (durable-bitmap.ts).
 *
 * A slot can be spooled while a copy worker holds its claim (the host wrote it between the worker's
 * claim and its tape write: the spool took the same start-instant bytes, so the host need not wait
 * for the slow target). The drain then waits for that worker: if it completes the slot, the entry
 * is simply dropped; if it gives the slot up, the drain claims it and writes it from the spool.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { UNIT_STATE, type TrackStateArray } from '../../engine/track-state.js';
import { waitForTarget, type TargetRate } from '../../engine/target-rate.js';
import { copyUnits, type UnitCopier } from '../../engine/unit-copy.js';
import type { BackupSpool } from './backup-spool.js';
import type { DurableSlotBitmap } from './durable-bitmap.js';

/** How often the drain looks again at a slot a worker still holds. */
const WORKER_POLL_MS = 5;

export interface SpoolDrainParts {
  readonly spool: BackupSpool;
  readonly states: TrackStateArray;
  readonly bitmap: DurableSlotBitmap;
  /** Spool → tape: the engine's unit copy, reading the spool (synchronously, this thread). */
  readonly fromSpool: UnitCopier;
  readonly targetRate?: TargetRate;
  /** Called once with the first error; the drain stops. */
  readonly onError: (error: unknown) => void;
}

export class SpoolDrain {
  private readonly parts: SpoolDrainParts;
  // Main thread only.
  private readonly queue: number[] = [];
  /** Spooled slots whose claim is the drain's own (the copy-before-write claimed them). */
  private readonly ownClaims = new Set<number>();
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(parts: SpoolDrainParts) {
    this.parts = parts;
  }

  /** A slot was just spooled; `ownClaim` when the copy-before-write claimed it (it stays CLAIMED until drained). */
  add(slot: number, ownClaim: boolean): void {
    if (ownClaim) this.ownClaims.add(slot);
    this.queue.push(slot);
    if (!this.running && !this.stopped)
      this.running = this.loop().finally(() => {
        this.running = undefined;
      });
  }

  get backlog(): number {
    return this.queue.length;
  }

  /** Resolves once the queue is empty (or the drain stopped). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops after the slot in hand; spooled slots stay in the spool (and SPOOLED on disk) for a resume. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  private async loop(): Promise<void> {
    const { spool, states, bitmap } = this.parts;
    // Bounded: every turn either finishes a slot or waits for a worker that must finish or release it.
    while (this.queue.length > 0 && !this.stopped) {
      const slot = this.queue.shift() as number;
      const state = states.state(slot);
      if (!this.ownClaims.has(slot)) {
        if (state === UNIT_STATE.COPIED || state === UNIT_STATE.COPIED_OOO) {
          bitmap.mark(slot, state);
          spool.forget(slot);
          continue;
        }
        if (!states.tryClaim(slot)) {
          this.queue.push(slot);
          await delay(WORKER_POLL_MS);
          continue;
        }
        this.ownClaims.add(slot);
      }
      try {
        const { bytes } = copyUnits(this.parts.fromSpool, [slot], { claim: false, complete: true, outOfOrder: true });
        this.ownClaims.delete(slot);
        await waitForTarget(this.parts.targetRate, bytes);
        bitmap.mark(slot, UNIT_STATE.COPIED_OOO);
        spool.forget(slot);
      } catch (error) {
        this.stopped = true;
        this.parts.onError(error);
      }
    }
  }
}
