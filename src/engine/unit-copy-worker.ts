/**
 * The piscina task that copies units from a source image to a target image (a clone's background
 * copy), run as `{ name: 'copyUnits' }` on the copy pool. Per batch (a cylinder) it claims every
 * unit still PENDING (compareExchange PENDING→CLAIMED) and only then reads it: a clone's precopy
 * reopens a unit after a host write, so a read taken before the claim could be older than a write
 * the claim did not see. Each claimed unit is written through `copyClaimedUnit` and completed.
 *
 * Invariant: a unit this task claimed is completed or released before it returns, so a host write
 * waiting on it never waits for a worker that gave up.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { translateIoError } from '../errors/io-error.js';
import { readFully } from '../base/file-io.js';
import { SnaptapeError } from '../errors/snaptape-error.js';
import { CONTROL, TrackStateArray, UNIT_STATE } from './track-state.js';
import { pace, pacingState } from './copy-pacing.js';
import { attachMarks, copyClaimedUnit, type UnitCopyResult, type UnitCopyTask } from './unit-copy.js';

/** Units claimed and copied together: one cylinder of a 3390/3380. */
export const UNIT_BATCH = 15;
/** A paused worker re-checks the control word this often. */
const PAUSE_SLICE_MS = 100;

function writeFully(fd: number, data: Buffer, position: number, path: string): void {
  let done = 0;
  while (done < data.length) {
    let n: number;
    try {
      n = writeSync(fd, data, done, data.length - done, position + done);
    } catch (error) {
      throw translateIoError(error, `write the target at byte ${position + done}`, path);
    }
    if (n === 0) throw translateIoError({ code: 'EIO', message: `short write at byte ${position + done}` }, 'write the target', path);
    done += n;
  }
}

export function copyUnits(task: UnitCopyTask): UnitCopyResult {
  const states = TrackStateArray.attach(task.stateBuffer);
  const extents = new Int32Array(task.extentBuffer);
  const marks = attachMarks(task.marks);
  const { source, target } = task;
  const slotBytes = source.slotBytes;
  const pacing = pacingState(task.pacing);
  let sourceFd = -1;
  let targetFd = -1;
  let copied = 0;
  let skipped = 0;
  let bytes = 0;
  let claimed: number[] = [];
  try {
    sourceFd = openSync(source.path, 'r');
    targetFd = openSync(target.path, 'r+');
    const write = (unit: number, data: Buffer): void => writeFully(targetFd, data, target.dataOffsetBytes + unit * target.slotBytes, target.path);
    for (let j = 0; j < task.units.length; j += UNIT_BATCH) {
      if (states.waitWhilePaused(PAUSE_SLICE_MS) === CONTROL.CANCEL) break;
      const end = Math.min(task.units.length, j + UNIT_BATCH);
      claimed = [];
      for (let i = j; i < end; i++) {
        const unit = task.units[i] as number;
        if (states.tryClaim(unit)) claimed.push(unit);
        else skipped++;
      }
      let batchBytes = 0;
      // Consecutive claimed units are read in one call.
      for (let k = 0; k < claimed.length;) {
        let last = k;
        while (last + 1 < claimed.length && (claimed[last + 1] as number) === (claimed[last] as number) + 1) last++;
        const first = claimed[k] as number;
        const span = Buffer.allocUnsafe((last - k + 1) * slotBytes);
        readFully(sourceFd, span, source.dataOffsetBytes + first * slotBytes, source.path);
        for (let m = k; m <= last; m++) {
          const unit = claimed[m] as number;
          const at = (unit - first) * slotBytes;
          batchBytes += copyClaimedUnit({ states, unit, slot: span.subarray(at, at + slotBytes), extents, marks, trim: task.trim, outOfOrder: false, write });
          copied++;
        }
        k = last + 1;
      }
      claimed = [];
      bytes += batchBytes;
      pace(pacing, batchBytes, end - j, () => states.control !== CONTROL.RUN);
    }
    return { copied, skipped, bytes };
  } catch (error) {
    for (const unit of claimed) if (states.state(unit) === UNIT_STATE.CLAIMED) states.release(unit);
    const data = error instanceof SnaptapeError
      ? error.toData()
      : { code: 'IO' as const, message: `Cannot copy to ${target.path}: ${error instanceof Error ? error.message : String(error)}`, details: { path: target.path } };
    return { copied, skipped, bytes, error: data };
  } finally {
    if (sourceFd >= 0) closeSync(sourceFd);
    if (targetFd >= 0) closeSync(targetFd);
  }
}
