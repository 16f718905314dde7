/**
 * The last step of a tape backup, run on a worker thread so that the volume's owning thread (and
 * every host write, NBD client included) never waits for it: fold each element's digest (UTL1's
 * BLKSHA256, element-digest.ts) from the block digests the digest pass made beside the copy
 * (block-digest-pass.ts, which also checked every data block's header), write the labels and
 * tapemarks (UTL1; the SHA-256 of its labels in UTL2: label-digest.ts), sync, and check the tape
 * against its plan: the labels' and tapemarks' headers read back at their planned offsets, and the
 * label sequence. The whole tape's SHA-256 is made only when asked (a backup that sets a
 * checkpoint: an incremental names its base by it).
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { SnaptapeError, type ErrorData } from '../../errors/snaptape-error.js';
import { translateIoError } from '../../errors/io-error.js';
import { openRegularFile, requireSameFile, type FileIdentity } from '../../base/file-io.js';
import { inLibraryFolder } from '../../library/library-marker.js';
import { writeTapeFrame } from '../../tape/mapped-tape-writer.js';
import type { TapePlan } from '../../tape/tape-plan.js';
import { verifyTapeAgainstPlan, type TapeVerification } from '../../tape/tape-verify.js';
import { compiledScriptPath, type CopyPool } from '../../engine/copy-pool.js';
import { digestWholeTape } from './backup-digest.js';
import { digestLabel } from './backup-labels.js';
import { NEW_ELEMENT_DIGEST, foldBlockDigests } from './element-digest.js';
import { labelDigestLabel, labelDigestOf, plannedLabels } from './label-digest.js';
import { withBlocksOf, type BlockDigestShared } from './block-digest-pass.js';

export interface FinishTapeTask {
  readonly tapePath: string;
  /** The file the session wrote (MappedTapeWriter.identity): reopened, the path must still name it (file-io.ts requireSameFile). */
  readonly identity?: FileIdentity;
  /** The tape's plan without its data blocks (block-digest-pass.ts `withoutBlocks`): `blocks` holds them. */
  readonly plan: TapePlan;
  /** The digest pass's tables of the data blocks' offsets and lengths, and each element's count of blocks. */
  readonly blocks: Pick<BlockDigestShared, 'offsets' | 'lengths'> & { readonly counts: readonly number[] };
  /** Where the tape starts in the file: 0, or N0 × 512 for a tape on an FBA volume. */
  readonly baseOffsetBytes: number;
  /**
   * The digest pass's record (block-digest-pass.ts): the SHA-256 of data block u's payload at
   * u × 32, unit u being data block u in tape order, every block's header checked.
   */
  readonly blockDigests: SharedArrayBuffer;
  /** Also hash the whole finished tape (tapeSha256). */
  readonly wholeTapeSha256: boolean;
}

/** Seconds of each part of the last step. */
export interface FinishTapeSeconds {
  /** Folding the block digests into each element's. */
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
    const plan = withBlocksOf(task.plan, task.blocks, task.blocks.counts);
    let fd: number;
    try {
      // A library's cartridge, whose name others may have replaced with a link during the copy, is
      // reopened only as a file of its own (library-marker.ts inLibraryFolder): a link is refused.
      fd = inLibraryFolder(task.tapePath) ? openRegularFile(task.tapePath, 'the cartridge', true, { noFollow: true }).fd : openSync(task.tapePath, 'r+');
    } catch (error) {
      throw translateIoError(error, 'reopen the tape to finish it', task.tapePath);
    }
    if (task.identity !== undefined) {
      try {
        requireSameFile(fd, task.identity, task.tapePath, 'the tape', 'the backup wrote');
      } catch (error) {
        closeSync(fd);
        throw error;
      }
    }
    let digests: string[];
    let digested: number;
    try {
      const blockDigests = new Uint8Array(task.blockDigests);
      let first = 0;
      digests = plan.files.map((file) => {
        const count = file.spec.dataBlockLengths.length;
        first += count;
        return foldBlockDigests(blockDigests, first - count, count);
      });
      digested = performance.now();
      const trailers = digests.map((hex, i) => [digestLabel({ kind: NEW_ELEMENT_DIGEST, hex }), labelDigestLabel(labelDigestOf(plannedLabels(plan, i)))]);
      writeTapeFrame(fd, plan, trailers, task.tapePath, task.baseOffsetBytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const synced = performance.now();
    const region = { baseOffsetBytes: task.baseOffsetBytes, lengthBytes: plan.sizeBytes };
    const verification = verifyTapeAgainstPlan(task.tapePath, plan, region, { indexFromPlan: true, dataHeadersChecked: true });
    const verified = performance.now();
    const tapeSha256 = task.wholeTapeSha256 ? digestWholeTape(task.tapePath, task.baseOffsetBytes, plan.sizeBytes) : undefined;
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
