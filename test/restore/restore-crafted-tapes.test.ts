/**
 * Layer: CLI, hostile input. Crafted backup tapes whose digests all match (UTL1 and UTL2 sealed
 * again after the edit: a digest proves a tape is what it says, not that what it says is sane) are
 * refused by `restore` with one typed error line, before the first byte is written: an existing
 * target stays as it was, and a new one is not left behind.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCliFailure } from '../backup/backup-test-helpers.js';
import { dataBlocksOf, readTapeBlocks, sealTapeBlocks, writeTapeBlocks, type TapeBlocks } from '../harness/craft-backup-tape.js';
import { sha256File } from '../harness/dasd.js';
import { runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);

beforeAll(() => {
  dir = makeTempDir('snaptape-crafted-restore-');
  // An FBA volume of 200 blocks: its tape holds 3 blocks of 64 and one of 8.
  runSnaptapeOk(['init', at('f.fba'), '--type', 'fba', '--blocks', '200', '--volser', 'FBA001']);
  runSnaptapeOk(['backup', at('f.fba'), '--to', at('f.aws')]);
  runSnaptapeOk(['init', at('target.fba'), '--type', 'fba', '--blocks', '200', '--volser', 'TGT001']);
}, 120_000);
afterAll(() => dir.cleanup());

/** Writes `blocks`, sealed, as tape `name`, and returns its path. */
function crafted(name: string, blocks: TapeBlocks): string {
  writeTapeBlocks(at(name), sealTapeBlocks(blocks));
  return at(name);
}

describe('restore refuses a crafted FBA tape before it writes', () => {
  it('a tape block that is not a whole number of 512-byte blocks', () => {
    const blocks = readTapeBlocks(at('f.aws'));
    const data = dataBlocksOf(blocks, 0);
    // The last data block: a restore that checked only as it wrote would have written the others.
    const last = data.first + data.count - 1;
    blocks[last] = Buffer.alloc(4000, 0xc1);
    const tape = crafted('short-block.aws', blocks);
    // The tape is what it says: every digest matches.
    expect(runSnaptape(['verify', tape]).status).toBe(0);

    const before = sha256File(at('target.fba'));
    expectCliFailure(runSnaptape(['restore', tape, '--to', at('target.fba')]), 'TAPE_FORMAT', [tape, `block ${last}`, '4000 bytes', '512-byte']);
    expect(sha256File(at('target.fba')), 'the existing target is untouched').toBe(before);

    expectCliFailure(runSnaptape(['restore', tape, '--to', at('new.fba'), '--new-volume']), 'TAPE_FORMAT', [tape, `block ${last}`]);
    expect(existsSync(at('new.fba')), 'no new volume is left').toBe(false);
  });
});
