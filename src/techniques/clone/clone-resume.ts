/**
 * Whether a clone session whose process died may be taken up again, and what it starts from
 * (issue 10, item 5). Two steps, because the evidence must be read before this process opens the
 * volumes (opening takes over their stale locks):
 *
 * 1. `findCloneToResume(target)`, before the volumes are opened: the record beside the destination,
 *    if it is not final, and who holds each image's lock (`<image>.lock`) at this moment.
 * 2. `restoreCloneToResume(plan, source, target)`, once both are open: checks the evidence and the
 *    bitmap, and returns the RestoredClone for `CloneSession.resume`.
 *
 * A resume is refused (CloneResumeError, with the reason and what to do) when:
 * - the record or the bitmap predates durable bitmaps (no owner in the record, bitmap version 1):
 *   its bits were only checkpoints, so tracks written since could be missing;
 * - the session's process still runs (its lock is held by a live process);
 * - the source or the destination was opened for writing by another process after the session's
 *   process ended: the lock file the dead process left is gone or names another process. Writes
 *   that no session protected may then be missing from the destination (or overwrite it). A
 *   writer that ignores snaptape's lock (Hercules on the image file) cannot be seen this way;
 * - the bitmap does not fit the volumes (another unit count) or the paths differ from the record.
 * What the user can do then: start a new clone (a full copy; its CREATE replaces this record).
 */
import { existsSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { SessionError, type ErrorDetails } from '../../errors/snaptape-error.js';
import { isProcessAlive, lockOwnerOf } from '../../image/image-lock.js';
import type { Volume } from '../../volume/volume.js';
import { CloneBitmapFile } from './clone-bitmap-file.js';
import { FINAL_CLONE_PHASES } from './clone-phase.js';
import { CLONE_BITMAP_VERSION, PERSISTED_COLUMNS, cloneBitmapPath, readCloneBitmapFile, readCloneRecord, type CloneRecord } from './clone-record.js';
import { restoreClone, type RestoredClone } from './clone-restore.js';

export type CloneResumeRefusal = 'no-durable-bitmap' | 'still-running' | 'source-opened' | 'target-opened' | 'mismatch';

/** A clone session that cannot be resumed: `details.refusal` says why, the message what to do. */
export class CloneResumeError extends SessionError {
  constructor(message: string, details: ErrorDetails & { refusal: CloneResumeRefusal }) {
    super(message, details);
  }
}

/** The evidence of step 1, read before this process opens (and locks) the volumes. */
export interface CloneResumePlan {
  readonly record: CloneRecord;
  readonly sourceLock: { readonly pid: number; readonly host: string } | null;
  readonly targetLock: { readonly pid: number; readonly host: string } | null;
}

const NEW_CLONE_ADVICE = 'start a new clone of the source onto this destination (a full copy; its CREATE replaces this record)';

/** Step 1: the unfinished clone recorded beside `targetPath`, or undefined when there is none. */
export function findCloneToResume(targetPath: string): CloneResumePlan | undefined {
  const record = readCloneRecord(targetPath);
  if (!record || FINAL_CLONE_PHASES.has(record.phase)) return undefined;
  // The record beside one image may name another (the image and its record copied, or a record put
  // there): the session writes the image its record names, which is only ever this one.
  const given = resolve(targetPath);
  if (typeof record.target !== 'string' || (resolve(record.target) !== given && !sameFolderSameName(record.target, given))) {
    refuse(record, 'mismatch', `its record names the destination ${String(record.target)}, not ${targetPath}`);
  }
  // From here on the destination is the name given: its lock, its bitmap and the image itself are
  // found through it, and the record is rewritten with it.
  const own = { ...record, target: given };
  return { record: own, sourceLock: lockOwnerOf(own.source) ?? null, targetLock: lockOwnerOf(own.target) ?? null };
}

/**
 * True when `a` and `b` are one name in one folder reached by two paths (a symbolic link to the
 * folder, or in a parent of it): then every side file of the image (`.clone.json`, `.clone.bitmap`,
 * `.lock`) is the same file under both. Another name for the file itself (a symbolic link to the
 * image) is not: its side files are other files, and the evidence a resume needs (the lock the dead
 * process left) would be read from the wrong one.
 */
function sameFolderSameName(a: string, b: string): boolean {
  if (basename(a) !== basename(b)) return false;
  try {
    return realpathSync(dirname(resolve(a))) === realpathSync(dirname(b));
  } catch {
    return false;
  }
}

function refuse(record: CloneRecord, refusal: CloneResumeRefusal, why: string, advice = NEW_CLONE_ADVICE): never {
  throw new CloneResumeError(`Cannot resume clone session ${record.id} of ${record.source} onto ${record.target}: ${why}; ${advice}`, {
    session: record.id,
    source: record.source,
    target: record.target,
    phase: record.phase,
    refusal,
  });
}

/** The lock the dead process left must still be there, naming it: nobody else opened the image. */
function checkLock(record: CloneRecord, which: 'source' | 'target', lock: CloneResumePlan['sourceLock']): void {
  const owner = record.owner;
  if (!owner) return;
  const path = which === 'source' ? record.source : record.target;
  const refusal = which === 'source' ? 'source-opened' : 'target-opened';
  const sameOwner = lock !== null && lock.pid === owner.pid && (lock.host === '' || lock.host === owner.host);
  if (sameOwner && owner.host === hostname() && isProcessAlive(owner.pid) && owner.pid !== process.pid) {
    refuse(record, 'still-running', `process ${owner.pid} that runs it is still alive and holds ${path}`, 'steer it there, or stop that process first');
  }
  if (sameOwner) return;
  const now = lock === null ? 'its lock is gone' : `its lock now names process ${lock.pid}${lock.host ? ` on ${lock.host}` : ''}`;
  refuse(
    record,
    refusal,
    `the ${which === 'source' ? 'source' : 'destination'} ${path} was opened for writing after process ${owner.pid} that ran the session ended (${now}), so writes no session protected may be missing from the destination`,
  );
}

/** Step 2, with both volumes open in this process: the checks, then the state to resume from. */
export function restoreCloneToResume(plan: CloneResumePlan, source: Volume, target: Volume): RestoredClone {
  const { record } = plan;
  if (!record.owner)
    refuse(record, 'no-durable-bitmap', 'its record was written by a snaptape without durable clone bitmaps (no owner), so its bits are only a checkpoint');
  if (resolve(source.path) !== resolve(record.source) || resolve(target.path) !== resolve(record.target)) {
    refuse(record, 'mismatch', `the volumes opened are ${source.path} and ${target.path}`);
  }
  checkLock(record, 'source', plan.sourceLock);
  checkLock(record, 'target', plan.targetLock);
  const path = cloneBitmapPath(record.target);
  if (!existsSync(path)) refuse(record, 'no-durable-bitmap', `its bitmap ${path} is missing`);
  const bitmap = readCloneBitmapFile(path, source.unitCount);
  if (bitmap.version !== CLONE_BITMAP_VERSION)
    refuse(record, 'no-durable-bitmap', `its bitmap ${path} is version ${bitmap.version}, whose bits are only a checkpoint`);
  if (bitmap.unitCount !== source.unitCount) refuse(record, 'mismatch', `its bitmap has ${bitmap.unitCount} units and the source ${source.unitCount}`);
  // A record's relocated runs must fit both volumes, and send no two tracks to one place.
  const runs = record.relocated ?? [];
  const landed = new Set<number>();
  let tracks = 0;
  for (const run of runs) {
    const [from, to, count] = run;
    const fits = [from, to, count].every((n) => Number.isInteger(n) && n >= 0) && from + count <= source.unitCount && to + count <= target.unitCount;
    if (!fits) refuse(record, 'mismatch', `its relocated tracks [${run.join(', ')}] do not fit the volumes`);
    for (let i = 0; i < count; i++) landed.add(to + i);
    tracks += count;
  }
  if (landed.size !== tracks) refuse(record, 'mismatch', 'its relocated tracks send two tracks to one place');
  const columns = PERSISTED_COLUMNS.map((_, c) => bitmap.words(c));
  const file = CloneBitmapFile.open(path, { unitCount: bitmap.unitCount, phase: bitmap.phase, columns });
  return restoreClone(record, bitmap, file);
}
