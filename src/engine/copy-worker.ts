/**
 * The piscina worker of the copy loop. For each batch of blocks (a cylinder) it reads the blocks
 * still PENDING from the source (one read for a dense run, else one per block, reading only the
 * bytes each block uses), then claims them (compareExchange PENDING→CLAIMED), writes the claimed
 * ones with their AWSTAPE headers in one writev per contiguous run, and marks them COPIED.
 *
 * Reading before claiming is sound: a host write to a PENDING unit first copies it out of order and
 * marks it COPIED_OOO (ARCHITECTURE.md), so a claim that succeeds after the read proves no host write
 * reached the unit before it, and the bytes read are the start instant's. It keeps the CLAIMED
 * window, the only time a host write can wait on a worker, down to the tape write.
 *
 * Invariant: a unit this worker claimed is always completed or released before the task returns,
 * so a host write waiting on it never waits for a worker that gave up.
 */
import { closeSync, openSync, writevSync } from 'node:fs';
import { blockHeaderBytes } from '../tape/aws-block-header.js';
import { translateIoError } from '../errors/io-error.js';
import { readFully } from '../base/file-io.js';
import { SnaptapeError } from '../errors/snaptape-error.js';
import { CONTROL, TrackStateArray, UNIT_STATE } from './track-state.js';
import type { CopyBlockRun, CopyTask, CopyTaskResult } from './copy-task.js';
import { pacingState, pace } from './copy-pacing.js';
import { waitForTargetSync } from './target-rate.js';

// The pool's second task: finishing a tape (see finish-tape-task.ts), run as `{ name: 'finishTape' }`.
export { finishTape } from './finish-tape-task.js';
// The pool's third task: copying units volume to volume (a clone), run as `{ name: 'copyUnits' }`.
export { copyUnits } from './unit-copy-worker.js';

/** Blocks claimed and copied together: one cylinder of a 3390/3380 (PERF-NOTES: batch per cylinder). */
export const BATCH_BLOCKS = 15;
/** A run is read in one call when its blocks use at least this share of the span between them. */
const DENSE_READ_SHARE = 0.25;
/** A paused worker re-checks the control word this often. */
const PAUSE_SLICE_MS = 100;

/** Reads the payloads of blocks first..last (inclusive, all claimed, consecutive). */
function readRun(fd: number, blocks: CopyBlockRun, first: number, last: number, path: string): Buffer[] {
  const start = blocks.sourceOffsets[first] as number;
  const end = (blocks.sourceOffsets[last] as number) + (blocks.lengths[last] as number);
  let used = 0;
  for (let i = first; i <= last; i++) used += blocks.lengths[i] as number;
  const payloads: Buffer[] = [];
  if (used >= (end - start) * DENSE_READ_SHARE && end > start) {
    const span = Buffer.allocUnsafe(end - start);
    readFully(fd, span, start, path);
    for (let i = first; i <= last; i++) {
      const at = (blocks.sourceOffsets[i] as number) - start;
      payloads.push(span.subarray(at, at + (blocks.lengths[i] as number)));
    }
    return payloads;
  }
  for (let i = first; i <= last; i++) {
    const payload = Buffer.allocUnsafe(blocks.lengths[i] as number);
    readFully(fd, payload, blocks.sourceOffsets[i] as number, path);
    payloads.push(payload);
  }
  return payloads;
}

function writeRun(fd: number, blocks: CopyBlockRun, first: number, payloads: readonly Buffer[], path: string): void {
  const buffers: Buffer[] = [];
  let size = 0;
  payloads.forEach((payload, k) => {
    const i = first + k;
    const previous = i === 0 ? blocks.firstPreviousBytes : (blocks.lengths[i - 1] as number);
    buffers.push(blockHeaderBytes({ lengthBytes: payload.length, previousChunkBytes: previous }), payload);
    size += 6 + payload.length;
  });
  const at = blocks.tapeOffsets[first] as number;
  let written: number;
  try {
    written = writevSync(fd, buffers, at);
  } catch (error) {
    throw translateIoError(error, `write the tape at byte offset ${at}`, path);
  }
  if (written !== size) throw translateIoError({ code: 'EIO', message: `short write at byte offset ${at}` }, 'write the tape', path);
}

/** Splits claimed indexes into runs of consecutive blocks. */
function consecutiveRuns(indexes: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const i of indexes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else runs.push([i, i]);
  }
  return runs;
}

export default function runCopyTask(task: CopyTask): CopyTaskResult {
  const states = TrackStateArray.attach(task.stateBuffer);
  const blocks = task.blocks;
  const count = blocks.units.length;
  let sourceFd = -1;
  let tapeFd = -1;
  let copied = 0;
  let skipped = 0;
  let bytes = 0;
  let claimed: number[] = [];
  const pacing = pacingState(task.pacing);
  try {
    sourceFd = openSync(task.sourcePath, 'r');
    tapeFd = openSync(task.tapePath, 'r+');
    for (let j = 0; j < count; j += BATCH_BLOCKS) {
      if (states.waitWhilePaused(PAUSE_SLICE_MS) === CONTROL.CANCEL) break;
      const end = Math.min(count, j + BATCH_BLOCKS);
      const pending: number[] = [];
      for (let i = j; i < end; i++) {
        if (states.state(blocks.units[i] as number) === UNIT_STATE.PENDING) pending.push(i);
        else skipped++;
      }
      const payloadOf = new Map<number, Buffer>();
      for (const [first, last] of consecutiveRuns(pending)) {
        readRun(sourceFd, blocks, first, last, task.sourcePath).forEach((p, k) => payloadOf.set(first + k, p));
      }
      claimed = [];
      for (const i of pending) {
        if (states.tryClaim(blocks.units[i] as number)) claimed.push(i);
        else skipped++;
      }
      let batchBytes = 0;
      for (const [first, last] of consecutiveRuns(claimed)) {
        const payloads: Buffer[] = [];
        for (let i = first; i <= last; i++) payloads.push(payloadOf.get(i) as Buffer);
        writeRun(tapeFd, blocks, first, payloads, task.tapePath);
        if (task.targetRate) waitForTargetSync(task.targetRate, payloads.reduce((n, p) => n + p.length, 0));
        payloads.forEach((p, k) => {
          states.complete(blocks.units[first + k] as number, false, p.length);
          batchBytes += p.length;
        });
      }
      copied += claimed.length;
      claimed = [];
      bytes += batchBytes;
      pace(pacing, batchBytes, end - j, () => states.control !== CONTROL.RUN);
    }
    return { copied, skipped, bytes };
  } catch (error) {
    for (const i of claimed) if (states.state(blocks.units[i] as number) === UNIT_STATE.CLAIMED) states.release(blocks.units[i] as number);
    const data = error instanceof SnaptapeError
      ? error.toData()
      : { code: 'IO' as const, message: `Cannot copy to ${task.tapePath}: ${error instanceof Error ? error.message : String(error)}`, details: { path: task.tapePath } };
    return { copied, skipped, bytes, error: data };
  } finally {
    if (sourceFd >= 0) closeSync(sourceFd);
    if (tapeFd >= 0) closeSync(tapeFd);
  }
}
