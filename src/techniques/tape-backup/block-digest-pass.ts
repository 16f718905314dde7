/**
 * The digests of a backup's data blocks (UTL1's BLKSHA256: element-digest.ts), made from the tape
 * on pool threads of their own while the copy runs: the pass follows the copy in tape order, and
 * as soon as a run of blocks is on the tape (their units COPIED or COPIED_OOO in the session's
 * track-state array) it reads the run back in one window of up to 8 MiB, checks each block's 6-byte
 * AWSTAPE header against the plan and stores the SHA-256 of its payload in the digest record (32
 * bytes a block, in tape order), which the finish folds into each element's digest.
 *
 * The windows are fixed by the plan (runs of abutting blocks of one element) and taken in order
 * from a shared cursor, so several threads can share the pass: one follows the copy from its start;
 * once the copy's workers are done, their threads join it and take the windows left (the tail of
 * the hashing, which is slower than the copy, is shared). Each window is hashed once.
 *
 * Why reading the tape back is sound while the copy goes on: a unit is completed only after its
 * bytes were written at their planned offset (a spooled one only once the drain has put it there),
 * and a completed unit is never written again (a host write to it needs no copy), so a window of
 * completed units holds their final bytes. The digests cover what the tape holds, not what a
 * thread meant to write, and the header check is the read-back of the data blocks' headers; the
 * finish checks the rest (labels and tapemarks) and the structure (tape-verify.ts).
 *
 * Invariants: read-only on the tape; a header that is not the planned one is a VerifyError naming
 * the block number and byte offset. A task stops, without finishing its windows, when the copy is
 * cancelled, the session sets the stop word (a failed copy) or another task of the pass failed (it
 * sets the word): it looks before every read, so a pool thread never waits for units nobody
 * copies, nor hashes, for a backup that has already failed, the blocks the copy got ahead by.
 * While the session is paused, a task reads nothing (it waits before its next read).
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readFully } from '../../base/file-io.js';
import { SnaptapeError, type ErrorData } from '../../errors/snaptape-error.js';
import { translateIoError } from '../../errors/io-error.js';
import { CONTROL, TrackStateArray, UNIT_STATE } from '../../engine/track-state.js';
import { compiledScriptPath, type CopyPool } from '../../engine/copy-pool.js';
import { AWS_HEADER_BYTES, writeBlockHeader } from '../../tape/aws-block-header.js';
import { checkPlannedHeader } from '../../tape/tape-verify.js';
import type { TapePlan } from '../../tape/tape-plan.js';
import { BLOCK_DIGEST_BYTES } from './element-digest.js';

/** Bytes of tape read back per window: large sequential reads into one buffer per task. */
const WINDOW_BYTES = 8 * 1024 * 1024;
/** Longest sleep while the next block is not on the tape yet (the stop word wakes it at once). */
const WAIT_SLICE_MS = 5;
/** Longest sleep while the session is paused, between looks at its control word. */
const PAUSE_SLICE_MS = 50;

/** Int32 words shared by the pass's tasks: STOP (the session sets it), the next window, blocks hashed. */
const WORD_STOP = 0;
const WORD_NEXT_WINDOW = 1;
const WORD_HASHED = 2;
const WORD_COUNT = 3;

/**
 * Everything the pass's tasks share, each in a SharedArrayBuffer (a task's structured clone copies
 * none of it): the data blocks in tape order (unit u is data block u), the windows, the words and
 * the digest record.
 */
export interface BlockDigestShared {
  readonly tapePath: string;
  /** Where the tape starts in the file: 0, or N0 × 512 for a tape on an FBA volume. */
  readonly baseOffsetBytes: number;
  /** The session's track-state array. */
  readonly stateBuffer: SharedArrayBuffer;
  /** Float64 per block: its header's offset on the tape. */
  readonly offsets: SharedArrayBuffer;
  /** Int32 per block: its payload's bytes. */
  readonly lengths: SharedArrayBuffer;
  /** Int32 per block: its block number on the tape (labels and tapemarks counted), for errors. */
  readonly blockNumbers: SharedArrayBuffer;
  /** Int32 per block: the bytes of the chunk before it, as its header records them. */
  readonly previous: SharedArrayBuffer;
  /** Int32 per window, and one more: the first block of each window, then the block count. */
  readonly windows: SharedArrayBuffer;
  readonly words: SharedArrayBuffer;
  /** 32 bytes per block: the SHA-256 of its payload (element-digest.ts folds them). */
  readonly digests: SharedArrayBuffer;
}

export interface BlockDigestTaskResult {
  /** Blocks this task hashed. */
  readonly hashed: number;
  /** Seconds it waited for blocks to reach the tape, and spent reading and hashing. */
  readonly waitSeconds: number;
  readonly hashSeconds: number;
  /** Set when the task stopped before the windows ran out (the stop word, a cancel). */
  readonly stopped?: boolean;
  readonly error?: ErrorData;
}

/**
 * The pass's shared state for a tape plan; the caller starts tasks on it (runBlockDigestTask). Plain
 * loops over the plan's arrays, no object per block: a 3390-54 has 982,800 (a walk of every planned
 * entry took 100-190 ms on the owning thread, where host writes wait); made after the start instant.
 */
export function newBlockDigestPass(
  plan: TapePlan,
  where: { readonly tapePath: string; readonly baseOffsetBytes: number; readonly stateBuffer: SharedArrayBuffer },
): BlockDigestShared {
  let count = 0;
  for (const file of plan.files) count += file.spec.dataBlockLengths.length;
  const offsets = new SharedArrayBuffer(count * Float64Array.BYTES_PER_ELEMENT);
  const lengths = new SharedArrayBuffer(count * Int32Array.BYTES_PER_ELEMENT);
  const blockNumbers = new SharedArrayBuffer(count * Int32Array.BYTES_PER_ELEMENT);
  const previous = new SharedArrayBuffer(count * Int32Array.BYTES_PER_ELEMENT);
  const previousOf = new Int32Array(previous);
  const offsetOf = new Float64Array(offsets);
  const lengthOf = new Int32Array(lengths);
  const numberOf = new Int32Array(blockNumbers);
  const starts: number[] = [];
  let unit = 0;
  // Block numbers count every entry as plannedEntries yields them: labels, tapemarks, data blocks.
  let blockNumber = plan.volumeLabels.length;
  for (const file of plan.files) {
    blockNumber += file.headerLabels.length + (file.headerTapemark === undefined ? 0 : 1);
    const fileLengths = file.spec.dataBlockLengths;
    const fileOffsets = file.dataOffsetsBytes;
    let windowStartOffset = 0;
    for (let j = 0; j < fileLengths.length; j++) {
      const offset = fileOffsets[j] as number;
      const length = fileLengths[j] as number;
      offsetOf[unit] = offset;
      lengthOf[unit] = length;
      numberOf[unit] = blockNumber + j;
      // The first data block of a file follows a tapemark (tape-plan.ts plannedDataBlock).
      previousOf[unit] = j === 0 ? 0 : (fileLengths[j - 1] as number);
      // A window is a run of abutting blocks of one element, at most WINDOW_BYTES (a longer block alone).
      if (j === 0 || offset + AWS_HEADER_BYTES + length - windowStartOffset > WINDOW_BYTES) {
        starts.push(unit);
        windowStartOffset = offset;
      }
      unit += 1;
    }
    blockNumber += fileLengths.length + 1 + file.trailerLabels.length + (file.trailerTapemark === undefined ? 0 : 1);
  }
  const windows = new SharedArrayBuffer((starts.length + 1) * Int32Array.BYTES_PER_ELEMENT);
  const windowStarts = new Int32Array(windows);
  windowStarts.set(starts);
  windowStarts[starts.length] = count;
  return {
    ...where,
    offsets,
    lengths,
    blockNumbers,
    previous,
    windows,
    words: new SharedArrayBuffer(WORD_COUNT * Int32Array.BYTES_PER_ELEMENT),
    digests: new SharedArrayBuffer(count * BLOCK_DIGEST_BYTES),
  };
}

/** Data blocks of the pass. */
export function blockCount(pass: BlockDigestShared): number {
  return pass.lengths.byteLength / Int32Array.BYTES_PER_ELEMENT;
}

/**
 * `plan` without its data blocks' lengths and offsets (the bulk of it: a number each, 983,000 of
 * them for a 3390-54), to be sent to another thread with the pass's tables, which hold them; the
 * other thread puts them back with `withBlocksOf`. A structured clone of the whole plan took
 * 94-230 ms of the owning thread on a 3390-54, where host writes wait.
 */
export function withoutBlocks(plan: TapePlan): TapePlan {
  return { ...plan, files: plan.files.map((file) => ({ ...file, spec: { ...file.spec, dataBlockLengths: [] }, dataOffsetsBytes: [] })) };
}

/** The plan `withoutBlocks` made, its data blocks' lengths and offsets put back from the pass's tables. */
export function withBlocksOf(plan: TapePlan, pass: Pick<BlockDigestShared, 'offsets' | 'lengths'>, blockCounts: readonly number[]): TapePlan {
  const offsets = new Float64Array(pass.offsets);
  const lengths = new Int32Array(pass.lengths);
  let first = 0;
  const files = plan.files.map((file, i) => {
    const count = blockCounts[i] as number;
    const at = first;
    first += count;
    return {
      ...file,
      spec: { ...file.spec, dataBlockLengths: Array.from(lengths.subarray(at, at + count)) },
      dataOffsetsBytes: Array.from(offsets.subarray(at, at + count)),
    };
  });
  return { ...plan, files };
}

/** Stops every task of the pass: each returns at its next look, its window unfinished. */
export function stopBlockDigestPass(pass: BlockDigestShared): void {
  const words = new Int32Array(pass.words);
  Atomics.store(words, WORD_STOP, 1);
  Atomics.notify(words, WORD_STOP);
}

/** Blocks the pass's tasks have read back, checked and hashed so far. */
export function blocksHashed(pass: BlockDigestShared): number {
  return Atomics.load(new Int32Array(pass.words), WORD_HASHED);
}

/**
 * Runs one task of the pass on a pool thread. Ask for it after the copy's tasks are queued (the
 * pool runs tasks in order, so it never takes a thread a copy task of its units waits for).
 */
export function runBlockDigestTask(pool: CopyPool, pass: BlockDigestShared): Promise<BlockDigestTaskResult> {
  return pool.runScript(compiledScriptPath(import.meta.url, 'finish-tape-entry.cjs'), 'digestBlocks', pass);
}

class Stopped extends Error {}

/** One task of the pass: takes windows from the shared cursor until none is left. */
export function digestBlocks(pass: BlockDigestShared): BlockDigestTaskResult {
  const states = TrackStateArray.attach(pass.stateBuffer);
  const words = new Int32Array(pass.words);
  const offsets = new Float64Array(pass.offsets);
  const lengths = new Int32Array(pass.lengths);
  const blockNumbers = new Int32Array(pass.blockNumbers);
  const previous = new Int32Array(pass.previous);
  const windows = new Int32Array(pass.windows);
  const digests = new Uint8Array(pass.digests);
  const windowCount = windows.length - 1;
  const startedMs = performance.now();
  let waitMs = 0;
  let hashed = 0;
  const onTape = (unit: number): boolean => {
    const state = states.state(unit);
    return state === UNIT_STATE.COPIED || state === UNIT_STATE.COPIED_OOO;
  };
  /**
   * Throws Stopped once the session stopped the pass (or a task of it failed) or the copy was
   * cancelled; while the session is paused, waits (a paused backup reads nothing, the tape included).
   */
  const checkNotStopped = (): void => {
    // Bounded by the pause: the session resumes, cancels or stops the pass.
    for (;;) {
      if (Atomics.load(words, WORD_STOP) !== 0 || states.control === CONTROL.CANCEL) throw new Stopped();
      if (states.control !== CONTROL.PAUSE) return;
      Atomics.wait(words, WORD_STOP, 0, PAUSE_SLICE_MS);
    }
  };
  /** Waits until `unit` is on the tape; throws Stopped when the copy will not put it there. */
  const awaitUnit = (unit: number): void => {
    if (onTape(unit)) return;
    const from = performance.now();
    while (!onTape(unit)) {
      checkNotStopped();
      Atomics.wait(words, WORD_STOP, 0, WAIT_SLICE_MS);
    }
    waitMs += performance.now() - from;
  };
  const end = (unit: number): number => (offsets[unit] as number) + AWS_HEADER_BYTES + (lengths[unit] as number);
  const seconds = (): { waitSeconds: number; hashSeconds: number } => ({
    waitSeconds: waitMs / 1000,
    hashSeconds: (performance.now() - startedMs - waitMs) / 1000,
  });
  let fd: number;
  try {
    fd = openSync(pass.tapePath, 'r');
  } catch (error) {
    stopBlockDigestPass(pass);
    return { hashed, ...seconds(), error: errorData(translateIoError(error, 'open the tape to hash it', pass.tapePath), pass.tapePath) };
  }
  let buffer = Buffer.allocUnsafe(WINDOW_BYTES);
  /** The planned header of the block in hand (tape-verify.ts checks it as the finish does the labels'). */
  const planned = Buffer.alloc(AWS_HEADER_BYTES);
  try {
    // Bounded: every turn takes a window from the shared cursor, which only grows.
    for (let w = Atomics.add(words, WORD_NEXT_WINDOW, 1); w < windowCount; w = Atomics.add(words, WORD_NEXT_WINDOW, 1)) {
      const last = (windows[w + 1] as number) - 1;
      let j = windows[w] as number;
      while (j <= last) {
        // Looked at before every read, not only while waiting: a failed or cancelled backup whose
        // pass is behind the copy ends after this run, not after hashing all the copy got ahead.
        const looked = performance.now();
        checkNotStopped();
        waitMs += performance.now() - looked;
        awaitUnit(j);
        // The run of this window's blocks already on the tape, read in one call.
        let k = j + 1;
        while (k <= last && onTape(k)) k++;
        const start = offsets[j] as number;
        const bytes = end(k - 1) - start;
        if (bytes > buffer.length) buffer = Buffer.allocUnsafe(bytes);
        readFully(fd, buffer.subarray(0, bytes), pass.baseOffsetBytes + start, pass.tapePath, 'the tape');
        for (let u = j; u < k; u++) {
          const at = (offsets[u] as number) - start;
          const length = lengths[u] as number;
          writeBlockHeader({ lengthBytes: length, previousChunkBytes: previous[u] as number }, planned, 0);
          checkPlannedHeader(pass.tapePath, buffer.subarray(at, at + AWS_HEADER_BYTES), planned, blockNumbers[u] as number, offsets[u] as number);
          digests.set(
            createHash('sha256')
              .update(buffer.subarray(at + AWS_HEADER_BYTES, at + AWS_HEADER_BYTES + length))
              .digest(),
            u * BLOCK_DIGEST_BYTES,
          );
        }
        Atomics.add(words, WORD_HASHED, k - j);
        hashed += k - j;
        j = k;
      }
    }
    return { hashed, ...seconds() };
  } catch (error) {
    if (error instanceof Stopped) return { hashed, ...seconds(), stopped: true };
    // The backup fails with this error: the pass's other tasks need not hash the rest of the tape.
    stopBlockDigestPass(pass);
    return { hashed, ...seconds(), error: errorData(error, pass.tapePath) };
  } finally {
    closeSync(fd);
  }
}

function errorData(error: unknown, tapePath: string): ErrorData {
  if (error instanceof SnaptapeError) return error.toData();
  return {
    code: 'IO',
    message: `Cannot hash the tape ${tapePath}: ${error instanceof Error ? error.message : String(error)}`,
    details: { path: tapePath },
  };
}
