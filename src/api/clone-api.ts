/**
 * The library API of the clone (technique 4) for processes that own both volumes:
 * - `runClone`: a one-shot clone in this process, CREATE → PRECOPY (optional) → ACTIVATE → wait →
 *   TERMINATE, with both images locked by this process throughout;
 * - `resumeClone`: takes up a clone whose process died (from its record and durable bitmap,
 *   techniques/clone/clone-resume.ts) and finishes it as `runClone` would; `openResumedClone` only
 *   takes it up, for a caller that steers it itself;
 * - `readCloneStatus`: what the record beside a destination says, for a clone run elsewhere (or
 *   interrupted): a record that is not final while no process runs the session is incomplete.
 * Live sessions in `snaptape serve` are reached through the control API (control-client.ts).
 */
import { resolve } from 'node:path';
import { SessionError } from '../errors/snaptape-error.js';
import { CloneSession } from '../techniques/clone/clone-session.js';
import { finishClone, type RunCloneOptions, type RunCloneResult } from '../techniques/clone/clone-run.js';
export { MAX_PRECOPY_WAIT_MS, runClone, type RunCloneOptions, type RunCloneResult } from '../techniques/clone/clone-run.js';
import { FILE_COLUMN, countCloneBitmap, readCloneRecord, type CloneRecord } from '../techniques/clone/clone-record.js';
import { FINAL_CLONE_PHASES } from '../techniques/clone/clone-phase.js';
import { findCloneToResume, restoreCloneToResume } from '../techniques/clone/clone-resume.js';
import type { Volume } from '../volume/volume.js';
import { openVolume } from './volume-api.js';

export interface ResumedClone {
  readonly source: Volume;
  readonly target: Volume;
  readonly session: CloneSession;
}

/**
 * Takes up the unfinished clone recorded beside `targetPath` (its process died): opens both volumes
 * (the caller closes them), checks that it may resume (CloneResumeError otherwise), and resumes it.
 */
export function openResumedClone(targetPath: string, options: Pick<RunCloneOptions, 'workers' | 'throttleMbps'> = {}): ResumedClone {
  const plan = findCloneToResume(resolve(targetPath));
  if (!plan) {
    const record = readCloneRecord(resolve(targetPath));
    const why = record ? `its clone session ${record.id} is ${record.phase}` : `there is no clone record (${targetPath}.clone.json)`;
    throw new SessionError(`Cannot resume a clone onto ${targetPath}: ${why}`, { path: targetPath });
  }
  const source = openVolume(plan.record.source);
  let target: Volume | undefined;
  try {
    target = openVolume(plan.record.target);
    const restored = restoreCloneToResume(plan, source, target);
    try {
      const session = CloneSession.resume(source, target, restored, options);
      return { source, target, session };
    } catch (error) {
      restored.file.close();
      throw error;
    }
  } catch (error) {
    target?.close();
    source.close();
    throw error;
  }
}

/** A one-shot resume in this process: takes the clone up and finishes it (ACTIVATE if not yet, wait, TERMINATE). */
export async function resumeClone(targetPath: string, options: RunCloneOptions = {}): Promise<RunCloneResult> {
  const { source, target, session } = openResumedClone(targetPath, options);
  try {
    return await finishClone(session, options);
  } finally {
    target.close();
    source.close();
  }
}

export interface StoredCloneStatus extends CloneRecord {
  /** Tracks whose IND bit was set at the last checkpoint. */
  readonly indirectAtCheckpoint: number | null;
  /** Tracks whose PRECOPY PB was set at the last checkpoint: the destination holds them from the precopy. */
  readonly precopiedAtCheckpoint: number | null;
  /** True when the record is not final: the clone runs in another process, or was interrupted. */
  readonly unfinished: boolean;
}

/** The clone status stored beside a clone target (its `.clone.json` record and bitmap), and whether the clone is unfinished. Throws SessionError when the target has no clone record. */
export function readCloneStatus(targetPath: string): StoredCloneStatus {
  const record = readCloneRecord(targetPath);
  if (!record) throw new SessionError(`Cannot show the clone of ${targetPath}: there is no clone record (${targetPath}.clone.json)`, { path: targetPath });
  const bitmap = countCloneBitmap(targetPath);
  return {
    ...record,
    indirectAtCheckpoint: bitmap ? (bitmap.counts[FILE_COLUMN.ind] ?? null) : null,
    precopiedAtCheckpoint: bitmap ? (bitmap.counts[FILE_COLUMN.precopyPb] ?? null) : null,
    unfinished: !FINAL_CLONE_PHASES.has(record.phase),
  };
}
