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
import { dataBlocksOf, readTapeBlocks, sealTapeBlocks, userLabel, userLabelWords, writeTapeBlocks, type TapeBlocks } from '../harness/craft-backup-tape.js';
import { labelIdOf } from '../../src/tape/standard-labels.js';
import { openTapeExport } from '../../src/techniques/restore/tape-volume-backend.js';
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
    // Every digest matches, yet a verify that said OK of a tape its restore refuses would lie.
    expectCliFailure(runSnaptape(['verify', tape]), 'TAPE_FORMAT', [tape, `block ${last}`, '4000 bytes', '512-byte']);

    const before = sha256File(at('target.fba'));
    expectCliFailure(runSnaptape(['restore', tape, '--to', at('target.fba')]), 'TAPE_FORMAT', [tape, `block ${last}`, '4000 bytes', '512-byte']);
    expect(sha256File(at('target.fba')), 'the existing target is untouched').toBe(before);

    expectCliFailure(runSnaptape(['restore', tape, '--to', at('new.fba'), '--new-volume']), 'TAPE_FORMAT', [tape, `block ${last}`]);
    expect(existsSync(at('new.fba')), 'no new volume is left').toBe(false);
  });
});

describe('verify refuses a crafted data set tape as its restore does', () => {
  let tape: string;
  beforeAll(() => {
    runSnaptapeOk(['init', at('ds.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'DSV001']);
    runSnaptapeOk(['alloc', at('ds.ckd'), 'DS.A', '--tracks', '3']);
    tape = at('ds.aws');
    runSnaptapeOk(['backup', at('ds.ckd'), '--to', tape, '--datasets', 'DS.A']);
    runSnaptapeOk(['init', at('ds-target.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'DST001']);
  }, 120_000);

  /** The data set's last block without its end-of-track marker: its home address and records stand. */
  const cutLastTrack = (blocks: TapeBlocks): { blocks: TapeBlocks; last: number } => {
    const out = [...blocks];
    const data = dataBlocksOf(out, 0);
    const last = data.first + data.count - 1;
    const track = out[last] as Buffer;
    out[last] = Buffer.from(track.subarray(0, track.length - 8));
    return { blocks: out, last };
  };

  it('a data set block that is no track image, every digest sealed again', () => {
    const uhl2 = readTapeBlocks(tape).find((b) => b !== null && labelIdOf(b) === 'UHL2') as Buffer;
    expect(userLabelWords(uhl2), 'the tape holds a data set element').toContain('ELEM=DATASET');
    const { blocks, last } = cutLastTrack(readTapeBlocks(tape));
    const bad = crafted('ds-not-a-track.aws', blocks);
    const mentions = [bad, `block ${last}`, 'not a track image'];
    // A verify that said OK of a tape its restore refuses would lie.
    expectCliFailure(runSnaptape(['verify', bad]), 'TAPE_FORMAT', mentions);
    const target = at('ds-target.ckd');
    const before = sha256File(target);
    expectCliFailure(runSnaptape(['restore', bad, '--to', target, '--dataset', 'DS.A']), 'TAPE_FORMAT', mentions);
    expect(sha256File(target), 'the existing target is untouched').toBe(before);
  });

  it('a damaged data set block (not sealed again) is reported as a digest mismatch, not as a malformed block', () => {
    const { blocks } = cutLastTrack(readTapeBlocks(tape));
    const damaged = at('ds-damaged.aws');
    writeTapeBlocks(damaged, blocks);
    const r = runSnaptape(['verify', damaged]);
    expect(r.status, r.stderr).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toContain('not a track image');
    expect(`${r.stdout}${r.stderr}`).toMatch(/DS\.A/);
  });
});

describe('restore refuses a crafted chain before it writes', () => {
  let full: string;
  let inc: string;
  beforeAll(() => {
    runSnaptapeOk(['init', at('v.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'CHN001']);
    runSnaptapeOk(['track', at('v.ckd')]);
    full = at('full.aws');
    runSnaptapeOk(['backup', at('v.ckd'), '--to', full]);
    runSnaptapeOk(['alloc', at('v.ckd'), 'NEW.DATA', '--tracks', '2']);
    inc = at('inc.aws');
    runSnaptapeOk(['backup', at('v.ckd'), '--to', inc, '--incremental']);
    // The target a chain restores over: a copy of the full backup's volume.
    runSnaptapeOk(['restore', full, '--to', at('chain-target.ckd'), '--new-volume']);
  }, 120_000);

  /** `blocks` with user label `id` made to hold `edit(text)`. */
  const relabel =
    (id: string, edit: (text: string) => string) =>
    (blocks: TapeBlocks): TapeBlocks =>
      blocks.map((b) => (b !== null && labelIdOf(b) === id ? userLabel(id, edit(userLabelWords(b))) : b));
  /** The incremental's element described as a data set (its Format-1 DSCB in two more UHLs). */
  const asDataset = (blocks: TapeBlocks): TapeBlocks => {
    const out = relabel('UHL2', () => 'ELEM=DATASET DSN=NEW.DATA')(relabel('UHL3', () => `F1A=${'0'.repeat(64)}`)(blocks));
    const uhl6 = out.findIndex((b) => b !== null && labelIdOf(b) === 'UHL6');
    out.splice(uhl6 + 1, 0, userLabel('UHL7', `F1B=${'0'.repeat(64)}`), userLabel('UHL8', `F1C=${'0'.repeat(64)}`));
    return out;
  };

  const cases: Array<[string, (blocks: TapeBlocks) => TapeBlocks, RegExp]> = [
    ['a run of tracks past the volume end', relabel('UHL3', (t) => t.replace(/FIRST=\d+/, 'FIRST=44')), /holds units 44-45, the volume has 45/],
    [
      'an incremental of another device type',
      relabel('UHL1', (t) => t.replace('TYPE=3390', 'TYPE=3380')),
      /holds a 3380 of 3 cylinders, .*full\.aws a 3390 of 3/,
    ],
    ['an incremental of a volume of another size', relabel('UHL1', (t) => t.replace('CYL=3', 'CYL=2')), /holds a 3390 of 2 cylinders/],
    ['a data set element in an incremental', asDataset, /not runs of the volume's units/],
    // The run's second track is written all the same: onto a track the run does not name.
    [
      'a run that holds more tracks than its labels record',
      relabel('UHL3', (t) => t.replace(/COUNT=\d+/, 'COUNT=1')),
      /records tracks 1-1, but holds 2 tracks/,
    ],
  ];
  cases.forEach(([title, edit, message], i) => {
    it(title, () => {
      const tape = crafted(`inc-crafted-${i}.aws`, edit(readTapeBlocks(inc)));
      // Verified first, the chain is refused as its restore would be: a verify that said OK would lie.
      expectCliFailure(runSnaptape(['verify', '--chain', full, tape]), 'USAGE', [tape, message]);
      const target = at('chain-target.ckd');
      const before = sha256File(target);
      expectCliFailure(runSnaptape(['restore', full, tape, '--to', target]), 'USAGE', [tape, message]);
      expect(sha256File(target), 'the existing target is untouched').toBe(before);
      const fresh = at('chain-new.ckd');
      expectCliFailure(runSnaptape(['restore', full, tape, '--to', fresh, '--new-volume']), 'USAGE', [tape, message]);
      expect(existsSync(fresh), 'no new volume is left').toBe(false);
      // Served, the chain is refused the same way.
      let served: { close(): void } | undefined;
      expect(() => (served = openTapeExport([full, tape]))).toThrow(message);
      served?.close();
    });
  });

  it('a tape block longer than a track slot', () => {
    // The run's last track (2) made a 60,000-byte block that is no track image: written raw, it ran
    // into track 3, which the incremental does not hold.
    const blocks = readTapeBlocks(inc);
    const data = dataBlocksOf(blocks, 0);
    const last = data.first + data.count - 1;
    blocks[last] = Buffer.alloc(60_000, 0xff);
    const tape = crafted('inc-long-block.aws', blocks);
    expectCliFailure(runSnaptape(['verify', '--chain', full, tape]), 'TAPE_FORMAT', [tape, `block ${last}`, '60000 bytes', '56832-byte track slot']);
    const target = at('chain-target.ckd');
    const before = sha256File(target);
    expectCliFailure(runSnaptape(['restore', full, tape, '--to', target]), 'TAPE_FORMAT', [tape, `block ${last}`, '60000 bytes', '56832-byte track slot']);
    expect(sha256File(target), 'the existing target is untouched').toBe(before);
  });
});

describe('verify refuses a CKD data set tape that its restore refuses', () => {
  it('a data set block that is no track image', () => {
    runSnaptapeOk(['init', at('d.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'DSN001']);
    runSnaptapeOk(['alloc', at('d.ckd'), 'DS.ONE', '--tracks', '2']);
    runSnaptapeOk(['backup', at('d.ckd'), '--to', at('d.aws'), '--datasets', 'DS.ONE']);
    const blocks = readTapeBlocks(at('d.aws'));
    const data = dataBlocksOf(blocks, 0);
    const last = data.first + data.count - 1;
    // Its home address names track 0 of cylinder 0 and a record length that runs past the block.
    const bad = Buffer.alloc(200, 0);
    bad.writeUInt16BE(0xffff, 13);
    blocks[last] = bad;
    const tape = crafted('ds-not-track.aws', blocks);
    const target = at('d-target.ckd');
    runSnaptapeOk(['init', target, '--type', '3390', '--cyls', '3', '--volser', 'DST001']);
    const before = sha256File(target);
    expectCliFailure(runSnaptape(['restore', tape, '--to', target]), 'TAPE_FORMAT', [tape, `block ${last}`, 'not a track image']);
    expect(sha256File(target), 'the existing target is untouched').toBe(before);
    // Every digest matches, yet a verify that said OK of a tape its restore refuses would lie.
    expectCliFailure(runSnaptape(['verify', tape]), 'TAPE_FORMAT', [tape, `block ${last}`, 'not a track image']);
  });
});

describe('restore places a lone tape only where its elements belong', () => {
  it('a CKD tape whose element is a run of tracks, not part of a chain', () => {
    runSnaptapeOk(['init', at('w.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'RUN001']);
    runSnaptapeOk(['track', at('w.ckd')]);
    runSnaptapeOk(['backup', at('w.ckd'), '--to', at('w-full.aws')]);
    runSnaptapeOk(['alloc', at('w.ckd'), 'RUN.DATA', '--tracks', '2']);
    runSnaptapeOk(['backup', at('w.ckd'), '--to', at('w-inc.aws'), '--incremental']);
    // The chain labels (UHL4-UHL6) taken out: a tape that names no base.
    const blocks = readTapeBlocks(at('w-inc.aws')).filter((b) => b === null || !/^UHL[456]$/.test(labelIdOf(b) ?? ''));
    const tape = crafted('lone-run.aws', blocks);
    const target = at('w-target.ckd');
    runSnaptapeOk(['restore', at('w-full.aws'), '--to', target, '--new-volume']);
    const before = sha256File(target);
    expectCliFailure(runSnaptape(['restore', tape, '--to', target]), 'USAGE', [tape, /is a run of tracks .*restores whole volumes and data sets/]);
    expect(sha256File(target), 'the existing target is untouched').toBe(before);
    // No restore takes it (alone it is refused; naming no base, it is no link of a chain): verify says so too.
    expectCliFailure(runSnaptape(['verify', tape]), 'USAGE', [tape, /is a run of tracks .*restores whole volumes and data sets/]);
    // An incremental that names its base is verified alone as it always was: its chain restores it.
    expect(runSnaptapeOk(['verify', at('w-inc.aws')])).toMatch(/: OK\n/);
    // After a full backup it is no link of its chain: verify --chain says so as the chain's restore does.
    const chainRestore = runSnaptape(['restore', at('w-full.aws'), tape, '--to', target]);
    expectCliFailure(chainRestore, 'VERIFY', [tape, /does not follow: it is not an incremental/]);
    expect(sha256File(target), 'the existing target is untouched').toBe(before);
    const chainVerify = runSnaptape(['verify', '--chain', at('w-full.aws'), tape]);
    expect(chainVerify.status, `verify --chain exits as restore does (stderr: ${chainVerify.stderr})`).toBe(chainRestore.status);
    expect(chainVerify.stderr).toMatch(/not an incremental/);
  });

  it('an FBA tape onto an FBA volume too small for it, or onto a CKD volume', () => {
    // More than one write run (1 MiB, 2048 blocks): a restore that found the end as it wrote had written the first.
    runSnaptapeOk(['init', at('big.fba'), '--type', 'fba', '--blocks', '3000', '--volser', 'BIG001']);
    runSnaptapeOk(['backup', at('big.fba'), '--to', at('big.aws')]);
    runSnaptapeOk(['init', at('small.fba'), '--type', 'fba', '--blocks', '2500', '--volser', 'SML001']);
    runSnaptapeOk(['init', at('ckd-target.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'CKD001']);
    for (const [target, message] of [
      [at('small.fba'), /holds blocks 0-2999 of an FBA volume, the target has blocks 0-2499/],
      [at('ckd-target.ckd'), /holds blocks 0-2999 of an FBA volume, the target is a CKD volume/],
    ] as const) {
      const before = sha256File(target);
      const r = runSnaptape(['restore', at('big.aws'), '--to', target]);
      expect(sha256File(target), `${target}: the existing target is untouched`).toBe(before);
      expectCliFailure(r, 'USAGE', [target, message]);
    }
  });

  it('an FBA tape whose blocks hold more than the range its labels record', () => {
    runSnaptapeOk(['backup', at('f.fba'), '--to', at('range.aws'), '--blocks', '10:20']);
    const blocks = readTapeBlocks(at('range.aws')).map((b) =>
      b !== null && labelIdOf(b) === 'UHL3' ? userLabel('UHL3', userLabelWords(b).replace('COUNT=20', 'COUNT=5')) : b,
    );
    const tape = crafted('range-short.aws', blocks);
    const before = sha256File(at('target.fba'));
    expectCliFailure(runSnaptape(['restore', tape, '--to', at('target.fba')]), 'TAPE_FORMAT', [
      tape,
      'record 5 blocks (2560 bytes), its tape blocks hold 10240 bytes',
    ]);
    expect(sha256File(at('target.fba')), 'the existing target is untouched').toBe(before);
  });
});

describe('restore refuses a crafted FBA chain before it writes', () => {
  let full: string;
  let inc: string;
  beforeAll(() => {
    runSnaptapeOk(['init', at('c.fba'), '--type', 'fba', '--blocks', '200', '--volser', 'FCH001']);
    runSnaptapeOk(['track', at('c.fba')]);
    full = at('c-full.aws');
    runSnaptapeOk(['backup', at('c.fba'), '--to', full]);
    runSnaptapeOk(['track', at('c.fba'), '--checkpoint', 'touch']);
    inc = at('c-inc.aws');
    runSnaptapeOk(['backup', at('c.fba'), '--to', inc, '--incremental']);
    runSnaptapeOk(['restore', full, '--to', at('c-target.fba'), '--new-volume']);
  }, 120_000);

  /** The incremental's run made to start at `first`, its one data block made to hold 8 blocks. */
  const widened =
    (first: number) =>
    (blocks: TapeBlocks): TapeBlocks => {
      const data = dataBlocksOf(blocks, 0);
      const out = blocks.map((b) => (b !== null && labelIdOf(b) === 'UHL3' ? userLabel('UHL3', `FIRST=${first} COUNT=1`) : b));
      out[data.first] = Buffer.alloc(8 * 512, 0xe5);
      return out;
    };

  it.each([
    ['inside the volume, over blocks it does not name', 0],
    ['past the volume end', 196],
  ])('a run of one block whose tape block holds eight: %s', (_where, first) => {
    const blocks = readTapeBlocks(inc);
    expect(dataBlocksOf(blocks, 0).count, 'the incremental holds one tape block').toBe(1);
    const tape = crafted(`c-inc-wide-${first}.aws`, widened(first)(blocks));
    expectCliFailure(runSnaptape(['verify', '--chain', full, tape]), 'TAPE_FORMAT', [tape, '1 blocks', '4096 bytes']);
    const target = at('c-target.fba');
    const before = sha256File(target);
    expectCliFailure(runSnaptape(['restore', full, tape, '--to', target]), 'TAPE_FORMAT', [tape, '1 blocks', '4096 bytes']);
    expect(sha256File(target), 'the existing target is untouched').toBe(before);
    // Served, the chain shows what a restore would write, or nothing.
    let served: { close(): void } | undefined;
    expect(() => (served = openTapeExport([full, tape]))).toThrow(/c-inc-wide-\d+\.aws.*1 blocks.*4096 bytes/);
    served?.close();
  });
});
