/**
 * A tape written onto an FBA volume from block N0 (issue 4, item 2): tape byte LU lies in block
 * N = floor(LU / 512) + N0 at offset O = LU mod 512. The backup writes there under host writes,
 * nothing outside the region changes, and verify/restore read the tape back from the volume.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { fbaPositionOf } from '../../src/tape/tape-region.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => dir.cleanup());

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('tape on an FBA volume', () => {
  it('maps tape byte LU to block floor(LU/B)+N0, offset LU mod B', () => {
    expect(fbaPositionOf(0, { startBlock: 1000, blockBytes: 512 })).toEqual({ block: 1000, offsetInBlock: 0 });
    expect(fbaPositionOf(511, { startBlock: 7, blockBytes: 512 })).toEqual({ block: 7, offsetInBlock: 511 });
    expect(fbaPositionOf(512, { startBlock: 7, blockBytes: 512 })).toEqual({ block: 8, offsetInBlock: 0 });
    fc.assert(
      fc.property(fc.nat(2 ** 40), fc.nat(2 ** 20), (lu, n0) => {
        const p = fbaPositionOf(lu, { startBlock: n0, blockBytes: 512 });
        return (p.block - n0) * 512 + p.offsetInBlock === lu && p.offsetInBlock >= 0 && p.offsetInBlock < 512;
      }),
    );
  });

  it('backs up under load onto blocks N0.., leaves the rest of the volume alone, and restores from there', () => {
    const source = join(dir.path, 's.ckd');
    const volume = join(dir.path, 'tapes.fba');
    const reference = join(dir.path, 'ref.ckd');
    expect(runSnaptape(['init', source, '--type', '3390', '--cyls', '10', '--volser', 'SRC001']).status).toBe(0);
    expect(runSnaptape(['fill', source, '--seed', '3']).status).toBe(0);
    expect(runSnaptape(['init', volume, '--type', 'fba', '--blocks', '40000', '--volser', 'TAPES1']).status).toBe(0);
    const startBlock = 2000;
    const before = readFileSync(volume);
    const backup = runSnaptape([
      'backup',
      source,
      '--to',
      volume,
      '--to-fba-block',
      String(startBlock),
      '--load',
      'random:2000',
      '--reference-copy',
      reference,
      '--json',
    ]);
    expect(backup.status, backup.stderr).toBe(0);
    const summary = (JSON.parse(backup.stdout) as { summary: { target: { kind: string; firstBlock: number; lastBlock: number }; tapeBytes: number } }).summary;
    expect(summary.target).toEqual({
      kind: 'fba',
      firstBlock: startBlock,
      lastBlock: fbaPositionOf(summary.tapeBytes - 1, { startBlock, blockBytes: 512 }).block,
    });
    const after = readFileSync(volume);
    // Outside blocks first..last nothing changed; inside it starts with the VOL1 label chunk.
    expect(sha(after.subarray(0, startBlock * 512))).toBe(sha(before.subarray(0, startBlock * 512)));
    const end = (summary.target.lastBlock + 1) * 512;
    expect(sha(after.subarray(end))).toBe(sha(before.subarray(end)));
    expect(after.subarray(startBlock * 512 + 6, startBlock * 512 + 10).toString('hex')).toBe('e5d6d3f1');
    expect(runSnaptape(['verify', volume, '--fba-block', String(startBlock)]).status).toBe(0);
    const restored = join(dir.path, 'r.ckd');
    expect(runSnaptape(['restore', volume, '--fba-block', String(startBlock), '--to', restored, '--new-volume']).status).toBe(0);
    expect(runSnaptape(['compare', reference, restored]).status).toBe(0);
    // The wrong start block is not a tape: a typed error, the volume unchanged.
    const wrong = runSnaptape(['verify', volume, '--fba-block', String(startBlock + 1)]);
    expect(wrong.status).toBe(EXIT_STATUS_BY_CODE.TAPE_FORMAT);
    expect(sha(readFileSync(volume))).toBe(sha(after));
  });

  it('refuses a region that does not fit the volume before writing anything', () => {
    const source = join(dir.path, 's.ckd');
    const volume = join(dir.path, 'small.fba');
    expect(runSnaptape(['init', source, '--type', '3390', '--cyls', '5', '--volser', 'SRC001']).status).toBe(0);
    expect(runSnaptape(['fill', source]).status).toBe(0);
    expect(runSnaptape(['init', volume, '--type', 'fba', '--blocks', '1000', '--volser', 'SMALL1']).status).toBe(0);
    const before = sha(readFileSync(volume));
    const result = runSnaptape(['backup', source, '--to', volume, '--to-fba-block', '100']);
    expect(result.status).toBe(EXIT_STATUS_BY_CODE.NO_SPACE);
    expect(result.stderr).toMatch(/^snaptape: Cannot write the tape onto .*small\.fba: it needs \d+ blocks from block 100/);
    expect(sha(readFileSync(volume))).toBe(before);
  });
});
