/**
 * The last step of a tape backup, run on a worker thread so that the volume's owning thread (and
 * every host write, NBD client included) never waits for it: hash each element by reading the tape
 * sequentially, write the labels and tapemarks (each element's SHA-256 in its UTL1, the SHA-256 of
 * its labels in UTL2: techniques/tape-backup/label-digest.ts), sync,
 * and read the whole tape back against its plan.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { SnaptapeError, type ErrorData } from '../../errors/snaptape-error.js';
import { translateIoError } from '../../errors/io-error.js';
import { writeTapeFrame } from '../../tape/mapped-tape-writer.js';
import type { TapePlan } from '../../tape/tape-plan.js';
import { verifyTapeAgainstPlan, type TapeVerification } from '../../tape/tape-verify.js';
import { compiledScriptPath, type CopyPool } from '../../engine/copy-pool.js';
import { digestPlannedFiles, digestWholeTape } from './backup-digest.js';
import { digestLabel } from './backup-labels.js';
import { labelDigestLabel, labelDigestOf, plannedLabels } from './label-digest.js';

export interface FinishTapeTask {
  readonly tapePath: string;
  readonly plan: TapePlan;
  /** Where the tape starts in the file: 0, or N0 × 512 for a tape on an FBA volume. */
  readonly baseOffsetBytes: number;
}

export interface FinishTapeResult {
  readonly digests?: string[];
  readonly verification?: TapeVerification;
  /** SHA-256 of the whole finished tape (what an incremental names its base by). */
  readonly tapeSha256?: string;
  readonly error?: ErrorData;
}

/** Runs `finishTape` on one of the pool's threads (finish-tape-entry.cts). */
export function finishTapeOnPool(pool: CopyPool, task: FinishTapeTask): Promise<FinishTapeResult> {
  return pool.runScript(compiledScriptPath(import.meta.url, 'finish-tape-entry.cjs'), 'finishTape', task);
}

export function finishTape(task: FinishTapeTask): FinishTapeResult {
  try {
    const digests = digestPlannedFiles(task.tapePath, task.plan, task.baseOffsetBytes);
    let fd: number;
    try {
      fd = openSync(task.tapePath, 'r+');
    } catch (error) {
      throw translateIoError(error, 'reopen the tape to finish it', task.tapePath);
    }
    try {
      const trailers = digests.map((d, i) => [digestLabel(d), labelDigestLabel(labelDigestOf(plannedLabels(task.plan, i)))]);
      writeTapeFrame(fd, task.plan, trailers, task.tapePath, task.baseOffsetBytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const region = { baseOffsetBytes: task.baseOffsetBytes, lengthBytes: task.plan.sizeBytes };
    const verification = verifyTapeAgainstPlan(task.tapePath, task.plan, region);
    return { digests, verification, tapeSha256: digestWholeTape(task.tapePath, task.baseOffsetBytes, task.plan.sizeBytes) };
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
