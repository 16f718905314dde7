/**
 * Layers: CLI + interop, and behaviour. `restore --new-volume` of an FBA volume writes its blocks in
 * runs of up to 1 MiB, not a 512-byte block per write call, and the restored image is
 * `cmp`-identical to the source. The calls are counted on the restored image's descriptor alone
 * (an in-process restore through a counting `node:fs`): the child's whole count of write calls
 * (/proc/self/io) also held the hash worker's wakeups of the event loop, which vary with load
 * (170-410 in CI runs, 680 on a loaded machine), and came close to a write per tape block.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { Prng } from '../../src/base/prng.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { runTool } from '../harness/external-tools.js';
import { shortIoOn } from '../harness/short-io-fs.js';
import { runSnaptapeMeasured, type MeasuredCliResult } from '../harness/peak-rss.js';
import { runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** 20 MiB of blocks: 640 tape blocks of 64, 20 runs of 1 MiB. */
const BLOCKS = 40_960;
const RUN_BLOCKS = 2048;
/** The backup's tape blocks: 64 FBA blocks each. */
const TAPE_BLOCKS = BLOCKS / 64;

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
    const target = at('counted.fba');
    const counting = shortIoOn(target, Infinity);
    try {
      restoreTape(at('f.aws'), { to: target, newVolume: true });
    } finally {
      counting.restore();
    }
    const calls = counting.calls.write + counting.calls.writev;
    console.log(`[restore-fba-batch] write calls on the image: ${calls}`);
    // 20 runs of 1 MiB, and a few more to create the image (its header, VOL1 and VTOC). A write per
    // tape block would be 640, a write per FBA block 40,960.
    expect(calls).toBeGreaterThanOrEqual(BLOCKS / RUN_BLOCKS);
    expect(calls).toBeLessThan(TAPE_BLOCKS / 4);
    expect(runTool('cmp', [at('f.fba'), target]).status).toBe(0);
  });
});
