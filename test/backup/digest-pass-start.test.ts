/**
 * Layer: unit + scenario. The digest pass's tables (block-digest-pass.ts: an offset, a length, a
 * block number, a previous chunk and a 32-byte digest per data block, 52 MB for a 3390-54) are made
 * after the start instant, not in its synchronous stretch, where every host write waits (the slot
 * table, the layout and the copy plan are made there with plain loops for that reason); and made
 * with plain loops over the plan's arrays, equal to a walk of every planned entry.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { newBlockDigestPass } from '../../src/techniques/tape-backup/block-digest-pass.js';
import { verifyBackupTape } from '../../src/techniques/restore/backup-tape.js';
import { AWS_HEADER_BYTES } from '../../src/tape/aws-block-header.js';
import type { TapeFileSpec } from '../../src/tape/tape-file-spec.js';
import { plannedEntries, planTape } from '../../src/tape/tape-plan.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

vi.mock('../../src/techniques/tape-backup/block-digest-pass.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/techniques/tape-backup/block-digest-pass.js')>();
  return { ...actual, newBlockDigestPass: vi.fn(actual.newBlockDigestPass) };
});

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir('snaptape-digest-pass-start-');
});
afterAll(() => dir.cleanup());

describe('the digest pass of a backup', () => {
  it('is made after the start instant, not in its synchronous stretch', async () => {
    const volume = makeFilledVolume(dir.path, { cylinders: 2, seed: 12, name: 'start.ckd' });
    const tape = join(dir.path, 'start.aws');
    try {
      vi.mocked(newBlockDigestPass).mockClear();
      const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1 });
      expect(newBlockDigestPass).not.toHaveBeenCalled();
      await session.done;
      expect(newBlockDigestPass).toHaveBeenCalledTimes(1);
    } finally {
      volume.close();
    }
    expect(verifyBackupTape(tape).ok).toBe(true);
  }, 60_000);

  it('has the tables a walk of every planned entry gives, empty elements and long windows included', () => {
    const files: TapeFileSpec[] = [
      { dsname: 'A', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 300, dataBlockLengths: [100, 200, 300] },
      { dsname: 'EMPTY', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 1, dataBlockLengths: [] },
      // More than 8 MiB of blocks: several windows in one element.
      { dsname: 'B', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 60000, dataBlockLengths: new Array<number>(300).fill(60000) },
      { dsname: 'C', recordFormat: 'U', recordLengthBytes: 0, blockSizeBytes: 50, dataBlockLengths: [50] },
    ];
    for (const labelled of [true, false]) {
      const plan = planTape({ volser: 'TABLES', labelled, files });
      const pass = newBlockDigestPass(plan, { tapePath: 'unused.aws', baseOffsetBytes: 0, stateBuffer: new SharedArrayBuffer(64) });
      const offsets: number[] = [];
      const lengths: number[] = [];
      const numbers: number[] = [];
      const previous: number[] = [];
      const starts: number[] = [];
      let number = 0;
      let windowStart = 0;
      for (const entry of plannedEntries(plan)) {
        if (entry.kind === 'data') {
          const end = entry.block.offsetBytes + AWS_HEADER_BYTES + entry.block.lengthBytes;
          if (entry.blockIndex === 0 || end - windowStart > 8 * 1024 * 1024) {
            starts.push(offsets.length);
            windowStart = entry.block.offsetBytes;
          }
          offsets.push(entry.block.offsetBytes);
          lengths.push(entry.block.lengthBytes);
          numbers.push(number);
          previous.push(entry.block.previousChunkBytes);
        }
        number += 1;
      }
      expect(Array.from(new Float64Array(pass.offsets))).toEqual(offsets);
      expect(Array.from(new Int32Array(pass.lengths))).toEqual(lengths);
      expect(Array.from(new Int32Array(pass.blockNumbers))).toEqual(numbers);
      expect(Array.from(new Int32Array(pass.previous))).toEqual(previous);
      expect(Array.from(new Int32Array(pass.windows))).toEqual([...starts, offsets.length]);
      expect(starts.length).toBeGreaterThan(3);
      expect(pass.digests.byteLength).toBe(32 * offsets.length);
    }
  });
});
