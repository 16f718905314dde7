/**
 * The SHA-256 of each element of a backup tape, made beside the copy on a pool thread of its own:
 * the pass follows the copy in tape order, and as soon as a run of data blocks is on the tape (their
 * units COPIED or COPIED_OOO in the session's track-state array) it reads the run back in one
 * window, checks each block's 6-byte AWSTAPE header against the plan and hashes its payload into
 * its element's digest. The digest is the one UTL1 has always held (native-layout/backup-tape-labels.md),
 * so `verify` and old tapes are unchanged; only when it is computed moved, from a pass over the
 * finished tape to one that overlaps the copy.
 *
 * Why reading the tape back is sound while the copy goes on: a unit is completed only after its
 * bytes were written at their planned offset, and a completed unit is never written again (a host
 * write to it needs no copy), so a window of completed units holds their final bytes. The header
 * check here is the read-back of the data blocks' headers; the tape's last step checks the rest
 * (labels and tapemarks) and the structure (tape-verify.ts).
 *
 * Invariant: read-only; a header that is not the planned one is a VerifyError naming the block
 * number and byte offset. The pass stops, without digests, when the copy is cancelled or the
 * session sets its stop word (a failed copy), so a pool thread never waits for units nobody copies.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readFully } from '../../base/file-io.js';
import { SnaptapeError, VerifyError, type ErrorData } from '../../errors/snaptape-error.js';
import { translateIoError } from '../../errors/io-error.js';
import { CONTROL, TrackStateArray, UNIT_STATE } from '../../engine/track-state.js';
import { compiledScriptPath, type CopyPool } from '../../engine/copy-pool.js';
import { AWS_HEADER_BYTES, FLAG1_WHOLE_BLOCK, decodeAwsBlockHeader } from '../../tape/aws-block-header.js';
import { plannedEntries, type TapePlan } from '../../tape/tape-plan.js';

/** Bytes read back per window: large sequential reads, one buffer for the whole pass. */
const WINDOW_BYTES = 8 * 1024 * 1024;
/** Longest sleep while the next block is not on the tape yet (a stop word wakes it at once). */
const WAIT_SLICE_MS = 5;

export interface TapeDigestTask {
  readonly tapePath: string;
  readonly plan: TapePlan;
  /** Where the tape starts in the file: 0, or N0 × 512 for a tape on an FBA volume. */
  readonly baseOffsetBytes: number;
  /** The session's track-state array: unit u is data block u in tape order. */
  readonly stateBuffer: SharedArrayBuffer;
  /** newDigestWords(): the stop word the session sets, and the count of blocks hashed so far. */
  readonly words: SharedArrayBuffer;
}

export interface TapeDigestResult {
  /** SHA-256 (hex) of each element's data block payloads, in order; absent when stopped or failed. */
  readonly digests?: string[];
  /** Seconds the pass waited for blocks to reach the tape, and spent reading and hashing. */
  readonly waitSeconds: number;
  readonly hashSeconds: number;
  readonly error?: ErrorData;
}

/** Int32 words shared with the pass: STOP (the session sets it to 1) and HASHED (blocks hashed). */
const WORD_STOP = 0;
const WORD_HASHED = 1;

/** The words of a new pass (stopTapeDigest stops it, blocksDigested reads its progress). */
export function newDigestWords(): SharedArrayBuffer {
  return new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
}

/** Stops the pass that watches `words`: it returns without digests at its next look. */
export function stopTapeDigest(words: SharedArrayBuffer): void {
  const view = new Int32Array(words);
  Atomics.store(view, WORD_STOP, 1);
  Atomics.notify(view, WORD_STOP);
}

/** Data blocks the pass has read back, checked and hashed so far. */
export function blocksDigested(words: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(words), WORD_HASHED);
}

/**
 * Starts the pass on one of the pool's threads. Call it after the copy's tasks were queued: the
 * pool runs tasks in order, so the pass never takes a thread a copy task of its units waits for.
 */
export function digestTapeOnPool(pool: CopyPool, task: TapeDigestTask): Promise<TapeDigestResult> {
  return pool.runScript(compiledScriptPath(import.meta.url, 'finish-tape-entry.cjs'), 'digestTape', task);
}

class Stopped extends Error {}

export function digestTape(task: TapeDigestTask): TapeDigestResult {
  const states = TrackStateArray.attach(task.stateBuffer);
  const words = new Int32Array(task.words);
  let waitMs = 0;
  const startedMs = performance.now();
  /** Waits until `unit` is on the tape; throws Stopped when the copy will not put it there. */
  const awaitUnit = (unit: number): void => {
    const from = performance.now();
    for (;;) {
      const state = states.state(unit);
      if (state === UNIT_STATE.COPIED || state === UNIT_STATE.COPIED_OOO) break;
      if (Atomics.load(words, WORD_STOP) !== 0 || states.control === CONTROL.CANCEL) throw new Stopped();
      Atomics.wait(words, WORD_STOP, 0, WAIT_SLICE_MS);
    }
    waitMs += performance.now() - from;
  };
  const onTape = (unit: number): boolean => {
    const state = states.state(unit);
    return state === UNIT_STATE.COPIED || state === UNIT_STATE.COPIED_OOO;
  };
  let fd: number;
  try {
    fd = openSync(task.tapePath, 'r');
  } catch (error) {
    return { waitSeconds: 0, hashSeconds: 0, error: errorData(translateIoError(error, 'open the tape to hash it', task.tapePath), task.tapePath) };
  }
  try {
    const firstBlockNumbers = firstDataBlockNumbers(task.plan);
    let largest = 0;
    for (const file of task.plan.files) for (const length of file.spec.dataBlockLengths) largest = Math.max(largest, length);
    const buffer = Buffer.allocUnsafe(Math.max(WINDOW_BYTES, largest + AWS_HEADER_BYTES));
    let unit = 0;
    const digests = task.plan.files.map((file, fileIndex) => {
      const hash = createHash('sha256');
      const lengths = file.spec.dataBlockLengths;
      const offsets = file.dataOffsetsBytes;
      const firstUnit = unit;
      let j = 0;
      while (j < lengths.length) {
        awaitUnit(firstUnit + j);
        const start = offsets[j] as number;
        let k = j + 1;
        // The blocks of a file abut: a window is the run of blocks already on the tape that fits.
        while (k < lengths.length && (offsets[k] as number) + AWS_HEADER_BYTES + (lengths[k] as number) - start <= buffer.length && onTape(firstUnit + k)) k++;
        const end = (offsets[k - 1] as number) + AWS_HEADER_BYTES + (lengths[k - 1] as number);
        readFully(fd, buffer.subarray(0, end - start), task.baseOffsetBytes + start, task.tapePath, 'the tape');
        for (let b = j; b < k; b++) {
          const at = (offsets[b] as number) - start;
          const length = lengths[b] as number;
          checkHeader(task, buffer.subarray(at, at + AWS_HEADER_BYTES), {
            blockNumber: (firstBlockNumbers[fileIndex] as number) + b,
            offsetBytes: offsets[b] as number,
            lengthBytes: length,
            previousChunkBytes: b === 0 ? 0 : (lengths[b - 1] as number),
          });
          hash.update(buffer.subarray(at + AWS_HEADER_BYTES, at + AWS_HEADER_BYTES + length));
        }
        Atomics.add(words, WORD_HASHED, k - j);
        j = k;
      }
      unit += lengths.length;
      return hash.digest('hex');
    });
    return { digests, waitSeconds: waitMs / 1000, hashSeconds: (performance.now() - startedMs - waitMs) / 1000 };
  } catch (error) {
    const seconds = { waitSeconds: waitMs / 1000, hashSeconds: (performance.now() - startedMs - waitMs) / 1000 };
    if (error instanceof Stopped) return seconds;
    return { ...seconds, error: errorData(error, task.tapePath) };
  } finally {
    closeSync(fd);
  }
}

interface PlannedHeader {
  readonly blockNumber: number;
  readonly offsetBytes: number;
  readonly lengthBytes: number;
  readonly previousChunkBytes: number;
}

function checkHeader(task: TapeDigestTask, bytes: Buffer, planned: PlannedHeader): void {
  const header = decodeAwsBlockHeader(bytes);
  if (
    header.curlenBytes === planned.lengthBytes &&
    header.prvlenBytes === planned.previousChunkBytes &&
    header.flags1 === FLAG1_WHOLE_BLOCK &&
    header.flags2 === 0
  )
    return;
  throw new VerifyError(
    `Cannot verify tape ${task.tapePath}: block ${planned.blockNumber} at byte offset ${planned.offsetBytes} has the header ${bytes.toString('hex')}, planned a block of ${planned.lengthBytes} bytes after one of ${planned.previousChunkBytes}`,
    { path: task.tapePath, blockNumber: planned.blockNumber, offsetBytes: planned.offsetBytes },
  );
}

/** Block number (tapemarks counted, from the load point) of each file's first data block. */
function firstDataBlockNumbers(plan: TapePlan): number[] {
  const first: number[] = [];
  let blockNumber = 0;
  for (const entry of plannedEntries(plan)) {
    if (entry.kind === 'data' && entry.blockIndex === 0) first[entry.fileIndex] = blockNumber;
    blockNumber += 1;
  }
  return first;
}

function errorData(error: unknown, tapePath: string): ErrorData {
  if (error instanceof SnaptapeError) return error.toData();
  return {
    code: 'IO',
    message: `Cannot hash the tape ${tapePath}: ${error instanceof Error ? error.message : String(error)}`,
    details: { path: tapePath },
  };
}
