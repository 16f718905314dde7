/**
 * The background copy loop: each thread that runs a plan takes its next batch (one cylinder) from
 * the plan's shared cursor, copies it through the unit copy (unit-copy.ts), and paces (copy-pacing.ts).
 * The same steps run on a worker (blocking waits) and on the owning thread (awaited waits, and a
 * yield to the event loop between batches so that host writes, on the same thread, go on).
 *
 * Invariants: a batch is taken by exactly one thread (Atomics.add on the cursor); a cancelled or
 * failed loop leaves no claim of its own (the unit copy releases them).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '../base/assert.js';
import { SnaptapeError, type ErrorData } from '../errors/snaptape-error.js';
import { TRACKS_PER_CYLINDER } from '../geometry/device-types.js';
import type { VolumeGeometry } from '../geometry/volume-geometry.js';
import type { CopyPlan, CopyResult } from './copy-plan.js';
import { Pacing } from './copy-pacing.js';
import { CONTROL, type TrackStateArray } from './track-state.js';
import { copyUnits, type UnitCopier, type UnitCopyCount } from './unit-copy.js';

/** Units per batch: one cylinder of a 3390 or 3380, the unit of I/O that pays here. */
export const COPY_BATCH_UNITS = TRACKS_PER_CYLINDER;
/**
 * Bytes per batch of a volume whose units are small (an FBA block): a batch of 15 blocks of 512
 * bytes would pay a yield, a pacing step and a write per 7.5 KiB, and copy at a few MB/s.
 */
export const SMALL_UNIT_BATCH_BYTES = 1024 * 1024;

/** Units per batch of a copy of `geometry`'s units: a cylinder of a CKD volume, 1 MiB of FBA blocks. */
export function copyBatchUnits(geometry: VolumeGeometry): number {
  return geometry.kind === 'ckd' ? COPY_BATCH_UNITS : Math.max(1, Math.floor(SMALL_UNIT_BATCH_BYTES / geometry.blockBytes));
}
/** A paused or pacing thread looks at the control word at least this often. */
const WAIT_SLICE_MS = 50;

export type CopyPath = 'worker' | 'owning-thread';

/** The loop's view of one plan on one thread. */
export class CopyLoop {
  // Set once.
  private readonly plan: CopyPlan;
  private readonly copier: UnitCopier;
  private readonly cursor: Int32Array;
  private readonly pacing: Pacing;
  private readonly batchUnits: number;
  private readonly batches: number;
  // This thread only.
  private copied = 0;
  private skipped = 0;
  private bytes = 0;

  constructor(plan: CopyPlan, copier: UnitCopier) {
    this.plan = plan;
    this.copier = copier;
    this.cursor = new Int32Array(plan.cursorBuffer);
    this.pacing = new Pacing(plan.pacing);
    this.batchUnits = plan.batchUnits ?? COPY_BATCH_UNITS;
    this.batches = Math.ceil(plan.units.length / this.batchUnits);
  }

  private get states(): TrackStateArray {
    return this.copier.states;
  }

  /** The next batch's units, or undefined when every batch is taken. */
  private take(): number[] | undefined {
    const index = Atomics.add(this.cursor, 0, 1);
    if (index >= this.batches) return undefined;
    return Array.from(this.plan.units.subarray(index * this.batchUnits, Math.min(this.plan.units.length, (index + 1) * this.batchUnits)));
  }

  /**
   * Copies one batch; returns the ms to hold before the next one. With an asynchronous sink the
   * batch is still in flight: `inFlight` takes its acknowledgement, and it counts once acknowledged.
   */
  private step(units: readonly number[], inFlight?: (acknowledged: Promise<void>, done: UnitCopyCount) => void): number {
    const done = copyUnits(this.copier, units, { claim: true, readBeforeClaim: this.plan.readBeforeClaim, complete: true, outOfOrder: false });
    this.skipped += done.skipped;
    if (done.acknowledged !== undefined) {
      assert(inFlight !== undefined, 'an asynchronous sink runs on the owning thread only');
      inFlight(done.acknowledged, done);
    } else this.count(done);
    return this.pacing.account(done.copied, done.bytes);
  }

  private count(done: UnitCopyCount): void {
    this.copied += done.copied;
    this.bytes += done.bytes;
  }

  private result(error?: unknown): CopyResult {
    const base = { copied: this.copied, skipped: this.skipped, bytes: this.bytes };
    if (error === undefined) return base;
    const data: ErrorData =
      error instanceof SnaptapeError
        ? error.toData()
        : { code: 'IO', message: `Cannot copy: ${error instanceof Error ? error.message : String(error)}`, details: {} };
    return { ...base, error: data };
  }

  /** Runs on a worker thread: waits block the thread. */
  runBlocking(): CopyResult {
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const hold = (ms: number): boolean => {
      // Bounded: each slice sleeps, and the deadline does not move while sleeping.
      for (const end = Date.now() + ms; Date.now() < end;) {
        if (this.states.control === CONTROL.CANCEL) return false;
        Atomics.wait(sleeper, 0, 0, Math.min(WAIT_SLICE_MS, end - Date.now()));
      }
      return true;
    };
    try {
      for (;;) {
        if (this.states.waitWhilePaused(WAIT_SLICE_MS) === CONTROL.CANCEL) break;
        if (!hold(this.pacing.holdMs())) break;
        const units = this.take();
        if (!units) break;
        if (!hold(this.step(units))) break;
      }
      return this.result();
    } catch (error) {
      return this.result(error);
    }
  }

  /**
   * Runs on the owning thread: waits are awaited, and each batch starts after a yield. With an
   * asynchronous sink several batches are in flight (as many as its `ready` allows); the loop
   * returns only once every one of them is acknowledged or failed, so no claim of its own is left.
   */
  async runYielding(): Promise<CopyResult> {
    const hold = async (ms: number): Promise<boolean> => {
      // Bounded: each slice sleeps, and the deadline does not move while sleeping.
      for (const end = Date.now() + ms; Date.now() < end;) {
        if (this.states.control === CONTROL.CANCEL) return false;
        await sleep(Math.min(WAIT_SLICE_MS, end - Date.now()));
      }
      return true;
    };
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    const track = (acknowledged: Promise<void>, done: UnitCopyCount): void => {
      // Never rejects: the first failure is kept, and ends the loop before its next batch.
      const settled: Promise<void> = acknowledged
        .then(
          () => this.count(done),
          (error: unknown) => {
            failure ??= { error };
          },
        )
        .finally(() => inFlight.delete(settled));
      inFlight.add(settled);
    };
    const stopped = (): boolean => this.states.control === CONTROL.CANCEL || failure !== undefined;
    try {
      for (;;) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        // Bounded by cancel: a paused session is resumed or cancelled by its owner.
        while (this.states.control === CONTROL.PAUSE) await sleep(WAIT_SLICE_MS);
        if (stopped()) break;
        if (!(await hold(this.pacing.holdMs()))) break;
        // Bounded by the sink: room in flight comes back as batches are acknowledged or time out.
        await this.copier.sink.ready?.();
        if (stopped()) break;
        const units = this.take();
        if (!units) break;
        if (!(await hold(this.step(units, track)))) break;
      }
      await Promise.all(inFlight);
      return this.result(failure?.error);
    } catch (error) {
      await Promise.all(inFlight);
      return this.result(failure?.error ?? error);
    }
  }
}

/** Adds up the results of the threads that ran one plan; the first error wins. */
export function combineResults(results: readonly CopyResult[]): CopyResult {
  const error = results.find((r) => r.error)?.error;
  return {
    copied: results.reduce((n, r) => n + r.copied, 0),
    skipped: results.reduce((n, r) => n + r.skipped, 0),
    bytes: results.reduce((n, r) => n + r.bytes, 0),
    ...(error ? { error } : {}),
  };
}
