/**
 * One pass of a clone's background copy: every unit still PENDING, copied by the engine. When both
 * images are files at fixed offsets, piscina workers copy (`CopyPool.copyUnits`, claim-then-read);
 * otherwise (a CCKD, multi-file or mapped image) the owning thread copies a cylinder at a time and
 * yields between cylinders, so host writes go on meanwhile (as tape-backup/main-thread-copy.ts).
 *
 * Invariants: a pass never copies a unit it did not claim; it returns only when every task has
 * returned, so no claim of this pass is still held; the first task error is returned, not thrown.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SnaptapeError, type ErrorData } from '../../errors/snaptape-error.js';
import type { CopyPool } from '../../engine/copy-pool.js';
import type { CopyPacing } from '../../engine/copy-task.js';
import { CONTROL, type TrackStateArray } from '../../engine/track-state.js';
import type { UnitCopyMarks } from '../../engine/unit-copy.js';
import type { UnitLocation } from '../../image/image-backend.js';

/** Units per worker task: 8 cylinders, so tasks are few but workers still share the tail. */
export const CLONE_TASK_UNITS = 120;
/** Units the owning thread copies between two yields: one cylinder, so a host write waits at most that. */
export const MAIN_THREAD_BATCH_UNITS = 15;
/** How often a paused main-thread pass looks at the control word again. */
const PAUSE_POLL_MS = 50;

export interface PassPlan {
  readonly states: TrackStateArray;
  readonly pending: Int32Array;
  readonly source: UnitLocation;
  readonly target: UnitLocation;
  readonly extentBuffer: SharedArrayBuffer;
  readonly marks: readonly UnitCopyMarks[];
  readonly trim: boolean;
  readonly pacing: CopyPacing;
  /** The pool; only used when both locations are files. */
  readonly pool: () => CopyPool;
  /** Copies one claimed unit on the owning thread; returns the bytes written. */
  readonly copyOnThisThread: (unit: number) => number;
}

export interface PassResult {
  readonly copied: number;
  readonly bytes: number;
  readonly error?: ErrorData;
}

export function usesWorkers(source: UnitLocation, target: UnitLocation): boolean {
  return source.kind === 'file' && target.kind === 'file';
}

export async function runCopyPass(plan: PassPlan): Promise<PassResult> {
  const { source, target } = plan;
  if (source.kind === 'file' && target.kind === 'file') {
    const pool = plan.pool();
    const tasks: Promise<PassResult>[] = [];
    for (let i = 0; i < plan.pending.length; i += CLONE_TASK_UNITS) {
      const units = plan.pending.slice(i, i + CLONE_TASK_UNITS);
      tasks.push(pool.copyUnits({
        stateBuffer: plan.states.buffer, source, target, units, extentBuffer: plan.extentBuffer, marks: plan.marks, trim: plan.trim, pacing: plan.pacing,
      }));
    }
    const results = await Promise.all(tasks);
    return {
      copied: results.reduce((n, r) => n + r.copied, 0),
      bytes: results.reduce((n, r) => n + r.bytes, 0),
      ...(results.find((r) => r.error)?.error ? { error: results.find((r) => r.error)?.error } : {}),
    };
  }
  return copyPassOnThisThread(plan);
}

async function copyPassOnThisThread(plan: PassPlan): Promise<PassResult> {
  const { states, pending } = plan;
  let copied = 0;
  let bytes = 0;
  for (let first = 0; first < pending.length; first += MAIN_THREAD_BATCH_UNITS) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Bounded by cancel: a paused session is resumed or cancelled by its owner.
    while (states.control === CONTROL.PAUSE) await sleep(PAUSE_POLL_MS);
    if (states.control === CONTROL.CANCEL) break;
    const end = Math.min(pending.length, first + MAIN_THREAD_BATCH_UNITS);
    for (let i = first; i < end; i++) {
      const unit = pending[i] as number;
      if (!states.tryClaim(unit)) continue;
      try {
        bytes += plan.copyOnThisThread(unit);
        copied++;
      } catch (error) {
        states.release(unit);
        const data = error instanceof SnaptapeError
          ? error.toData()
          : { code: 'IO' as const, message: `Cannot copy unit ${unit}: ${error instanceof Error ? error.message : String(error)}`, details: { unit } };
        return { copied, bytes, error: data };
      }
    }
  }
  return { copied, bytes };
}
