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
    expect(restore.status, restore.stderr).toBe(0);
    // 20 runs, plus what is not the image's: about 100 to create it and for the CLI's own output,
    // and the 8-byte eventfd writes that wake the event loop for each message of the restore's hash
    // worker (libuv's async handle). Those vary with timing, as libuv folds the wakeups of a busy
    // loop into one: 170-410 of them in CI runs. A write per tape block would be 640 on its own.
    expect(restore.writeCalls).toBeGreaterThanOrEqual(BLOCKS / RUN_BLOCKS);
    expect(restore.writeCalls).toBeLessThan(TAPE_BLOCKS);
  });
});
