/**
 * The last step of a tape backup, run on a worker thread so that the volume's owning thread (and
 * every host write, NBD client included) never waits for it: fold each element's digest (UTL1's
 * BLKSHA256, element-digest.ts) from the block digests the copy made as it wrote each block (the
 * engine's per-unit digest record), write the labels and tapemarks (UTL1; the SHA-256 of its
 * labels in UTL2: label-digest.ts), sync, and check the tape against its plan: every header (data
 * blocks, labels, tapemarks) read back at its planned offset, and the label sequence. Blocks whose
 * digest the copy did not make (a resumed backup's, copied by the run it resumes) are hashed here
 * from the tape first. The whole tape's SHA-256 is made only when asked (a backup that sets a
 * checkpoint: an incremental names its base by it).
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFully } from '../../base/file-io.js';
import { SnaptapeError, type ErrorData } from '../../errors/snaptape-error.js';
import { translateIoError } from '../../errors/io-error.js';
import { writeTapeFrame } from '../../tape/mapped-tape-writer.js';
import type { TapePlan } from '../../tape/tape-plan.js';
import { verifyTapeAgainstPlan, type TapeVerification } from '../../tape/tape-verify.js';
import { compiledScriptPath, type CopyPool } from '../../engine/copy-pool.js';
import { digestWholeTape } from './backup-digest.js';
import { digestLabel } from './backup-labels.js';
import { BLOCK_DIGEST_BYTES, NEW_ELEMENT_DIGEST, foldBlockDigests } from './element-digest.js';
import { AWS_HEADER_BYTES } from '../../tape/aws-block-header.js';
import { labelDigestLabel, labelDigestOf, plannedLabels } from './label-digest.js';

export interface FinishTapeTask {
  readonly tapePath: string;
  readonly plan: TapePlan;
  /** Where the tape starts in the file: 0, or N0 × 512 for a tape on an FBA volume. */
  readonly baseOffsetBytes: number;
  /**
   * The copy's per-unit digest record (copy-plan.ts `digestBuffer`): the SHA-256 of data block u's
   * payload at u × 32, unit u being data block u in tape order.
   */
  readonly blockDigests: SharedArrayBuffer;
  /** Data blocks (ascending) whose digest the copy did not make: hashed from the tape here. */
  readonly blocksToHash: Int32Array;
  /** Also hash the whole finished tape (tapeSha256). */
  readonly wholeTapeSha256: boolean;
}

/** Seconds of each part of the last step. */
export interface FinishTapeSeconds {
  /** Folding the block digests into each element's (and hashing `blocksToHash` from the tape first). */
  readonly elementDigestSeconds: number;
  /** Labels, tapemarks and the fsync of the tape. */
  readonly syncSeconds: number;
  /** The check against the plan. */
  readonly readBackSeconds: number;
  readonly tapeSha256Seconds: number;
}

export interface FinishTapeResult {
  /** Each element's BLKSHA256 (hex), as UTL1 records it. */
  readonly digests?: readonly string[];
  readonly verification?: TapeVerification;
  /** SHA-256 of the whole finished tape (what an incremental names its base by), when asked. */
  readonly tapeSha256?: string;
  readonly seconds?: FinishTapeSeconds;
  readonly error?: ErrorData;
}

/** Runs `finishTape` on one of the pool's threads (finish-tape-entry.cts). */
export function finishTapeOnPool(pool: CopyPool, task: FinishTapeTask): Promise<FinishTapeResult> {
  return pool.runScript(compiledScriptPath(import.meta.url, 'finish-tape-entry.cjs'), 'finishTape', task);
}

export function finishTape(task: FinishTapeTask): FinishTapeResult {
  try {
    const started = performance.now();
    let fd: number;
    try {
      fd = openSync(task.tapePath, 'r+');
    } catch (error) {
      throw translateIoError(error, 'reopen the tape to finish it', task.tapePath);
    }
    let digests: string[];
    let digested: number;
    try {
      const blockDigests = new Uint8Array(task.blockDigests);
      if (task.blocksToHash.length > 0) hashBlocksFromTape(fd, task, blockDigests);
      let first = 0;
      digests = task.plan.files.map((file) => {
        const count = file.spec.dataBlockLengths.length;
        first += count;
        return foldBlockDigests(blockDigests, first - count, count);
      });
      digested = performance.now();
      const trailers = digests.map((hex, i) => [digestLabel({ kind: NEW_ELEMENT_DIGEST, hex }), labelDigestLabel(labelDigestOf(plannedLabels(task.plan, i)))]);
      writeTapeFrame(fd, task.plan, trailers, task.tapePath, task.baseOffsetBytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const synced = performance.now();
    const region = { baseOffsetBytes: task.baseOffsetBytes, lengthBytes: task.plan.sizeBytes };
    const verification = verifyTapeAgainstPlan(task.tapePath, task.plan, region, { indexFromPlan: true });
    const verified = performance.now();
    const tapeSha256 = task.wholeTapeSha256 ? digestWholeTape(task.tapePath, task.baseOffsetBytes, task.plan.sizeBytes) : undefined;
    const seconds = {
      elementDigestSeconds: (digested - started) / 1000,
      syncSeconds: (synced - digested) / 1000,
      readBackSeconds: (verified - synced) / 1000,
      tapeSha256Seconds: (performance.now() - verified) / 1000,
    };
    return { digests, verification, seconds, ...(tapeSha256 ? { tapeSha256 } : {}) };
  } catch (error) {
    if (error instanceof SnaptapeError) return { error: error.toData() };
    return {
      error: {
        code: 'IO',
        message: `Cannot finish the tape ${task.tapePath}: ${error instanceof Error ? error.message : String(error)}`,
        details: { path: task.tapePath },
      },
    };
  }
}

/** Bytes read from the tape at a time while hashing blocks the copy did not: one buffer, reused. */
const HASH_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Hashes the payloads of `task.blocksToHash` from the tape into their places in `blockDigests`:
 * runs of abutting blocks in windows of up to HASH_WINDOW_BYTES (a block longer than that alone).
 */
function hashBlocksFromTape(fd: number, task: FinishTapeTask, blockDigests: Uint8Array): void {
  const offsets: number[] = [];
  const lengths: number[] = [];
  for (const file of task.plan.files) {
    file.spec.dataBlockLengths.forEach((length, j) => {
      offsets.push(file.dataOffsetsBytes[j] as number);
      lengths.push(length);
    });
  }
  const units = task.blocksToHash;
  const end = (u: number): number => (offsets[u] as number) + AWS_HEADER_BYTES + (lengths[u] as number);
  let buffer = Buffer.allocUnsafe(HASH_WINDOW_BYTES);
  for (let k = 0; k < units.length;) {
    const first = units[k] as number;
    const start = offsets[first] as number;
    let last = k;
    while (
      last + 1 < units.length &&
      offsets[units[last + 1] as number] === end(units[last] as number) &&
      end(units[last + 1] as number) - start <= buffer.length
    )
      last++;
    const bytes = end(units[last] as number) - start;
    if (bytes > buffer.length) buffer = Buffer.allocUnsafe(bytes);
    readFully(fd, buffer.subarray(0, bytes), task.baseOffsetBytes + start, task.tapePath, 'the tape');
    for (let i = k; i <= last; i++) {
      const u = units[i] as number;
      const at = (offsets[u] as number) - start + AWS_HEADER_BYTES;
      blockDigests.set(
        createHash('sha256')
          .update(buffer.subarray(at, at + (lengths[u] as number)))
          .digest(),
        u * BLOCK_DIGEST_BYTES,
      );
    }
    k = last + 1;
  }
}
