/**
 * Layers: CLI + interop. `restore --new-volume` of an FBA volume writes its blocks in runs of up to
 * 1 MiB, not a 512-byte block per write call, and the restored image is `cmp`-identical to the
 * source. The count is the child's own /proc/self/io, read as it exits.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { Prng } from '../../src/base/prng.js';
import { runTool } from '../harness/external-tools.js';
import { runSnaptapeMeasured, type MeasuredCliResult } from '../harness/peak-rss.js';
import { runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** 20 MiB of blocks: 640 tape blocks of 64, 20 runs of 1 MiB. */
const BLOCKS = 40_960;
const RUN_BLOCKS = 2048;

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
let restore: MeasuredCliResult;

beforeAll(() => {
  dir = makeTempDir('snaptape-restore-fba-');
  runSnaptapeOk(['init', at('f.fba'), '--type', 'fba', '--blocks', String(BLOCKS), '--volser', 'FBA001']);
  const volume = openVolume(at('f.fba'));
  try {
    const data = Buffer.alloc((BLOCKS - 2) * 512);
    new Prng(22).fill(data);
    volume.writeBlocks(2, data);
  } finally {
    volume.close();
  }
  runSnaptapeOk(['backup', at('f.fba'), '--to', at('f.aws')]);
  restore = runSnaptapeMeasured(['restore', at('f.aws'), '--to', at('restored.fba'), '--new-volume'], dir.path);
}, 120_000);
afterAll(() => dir.cleanup());

describe(`restore --new-volume of a full ${BLOCKS}-block FBA volume`, () => {
  it('gives an image cmp-identical to the source', () => {
    expect(restore.status, restore.stderr).toBe(0);
    const cmp = runTool('cmp', [at('f.fba'), at('restored.fba')]);
    expect(cmp.status, cmp.stdout + cmp.stderr).toBe(0);
  });

  it('writes runs of up to 1 MiB, not a block (or a tape block) per call', () => {
    expect(restore.status, restore.stderr).toBe(0);
    // 20 runs, plus about 100 to create the image and for the CLI's own output; a write per tape
    // block is 640.
    expect(restore.writeCalls).toBeGreaterThanOrEqual(BLOCKS / RUN_BLOCKS);
    expect(restore.writeCalls).toBeLessThan(BLOCKS / RUN_BLOCKS + 180);
  });
});
