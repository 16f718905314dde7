/**
 * Layer: scenario (issue 16, defect 7). A backup tape is trusted only as far as it is checked:
 * - its labels (VOL1, HDR1, HDR2, UHL*) are covered by a digest (UTL2) that `verify` checks, so an
 *   edited UHL1 size or HDR field fails verification naming the labels;
 * - `restore --new-volume` checks the recorded geometry against the device type and against the
 *   data on the tape before it creates anything (also on tapes without the label digest);
 * - a restore that fails after creating its target removes it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEbcdicTrimmed } from '../../src/base/ebcdic.js';
import { decodeStandardLabel, encodeDataSetLabel2, encodeUserLabel, labelIdOf, userLabelText, type DataSetLabel2 } from '../../src/tape/standard-labels.js';
import { TapeReader } from '../../src/tape/tape-reader.js';
import { runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { expectCliFailure } from './backup-test-helpers.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
const ok = runSnaptapeOk;
/** A whole-volume tape and a data-set tape of a filled 3-cylinder 3390. */
let volumeTape: string;
let datasetTape: string;

beforeAll(() => {
  dir = makeTempDir();
  const source = at('source.ckd');
  ok(['init', source, '--type', '3390', '--cyls', '3', '--volser', 'LBL001']);
  ok(['alloc', source, 'PROD.BIG', '--tracks', '20']);
  ok(['fill', source, '--percent', '50']);
  volumeTape = at('volume.aws');
  ok(['backup', source, '--to', volumeTape]);
  datasetTape = at('dataset.aws');
  ok(['backup', source, '--to', datasetTape, '--datasets', 'PROD.BIG']);
}, 120_000);
afterAll(() => dir.cleanup());

/** Where a tape's first block with label id `id` is: its payload offset and bytes. */
function findLabel(tape: string, id: string): { payloadAt: number; bytes: Buffer } {
  const reader = TapeReader.open(tape);
  try {
    for (let b = 0; b < reader.entryCount; b++) {
      const entry = reader.entry(b);
      if (entry.kind !== 'block' || entry.storedBytes !== 80) continue;
      const bytes = reader.readBlockData(b);
      if (labelIdOf(bytes) === id) return { payloadAt: entry.offsetBytes + 6, bytes };
    }
  } finally {
    reader.close();
  }
  throw new Error(`no ${id} on ${tape}`);
}

/** A copy of `tape` with its first `id` label replaced by `edit(label)`. */
function editLabel(tape: string, name: string, id: string, edit: (label: Buffer) => Buffer): string {
  const copy = at(name);
  const bytes = readFileSync(tape);
  const { payloadAt, bytes: label } = findLabel(tape, id);
  const edited = edit(label);
  expect(edited.length).toBe(80);
  expect(edited.equals(label), `${name}: the edit changes ${id}`).toBe(false);
  edited.copy(bytes, payloadAt);
  writeFileSync(copy, bytes);
  return copy;
}

/** UHL1 with its CYL= word replaced. */
function withCylinders(cylinders: number): (label: Buffer) => Buffer {
  return (label) => {
    const text = decodeEbcdicTrimmed(label.subarray(4)).replace(/CYL=\d+/, `CYL=${cylinders}`);
    return encodeUserLabel({ labelId: 'UHL', number: 1, userData: userLabelText(text) });
  };
}

/** A copy of `tape` as written before the label digest: every UTL2 block spliced out. */
function withoutLabelDigest(tape: string, name: string): string {
  let bytes = readFileSync(tape);
  for (;;) {
    const copy = at(name);
    writeFileSync(copy, bytes);
    let utl2: number;
    try {
      utl2 = findLabel(copy, 'UTL2').payloadAt - 6;
    } catch {
      return copy;
    }
    // UTL1 before and UTL2 are both 80 bytes, so the next header's prvlen stays right.
    bytes = Buffer.concat([bytes.subarray(0, utl2), bytes.subarray(utl2 + 86)]);
  }
}

describe('the label digest', () => {
  it('a new backup tape records it, and verify checks it', () => {
    expect(decodeEbcdicTrimmed(findLabel(volumeTape, 'UTL2').bytes.subarray(4))).toMatch(/^LABELSHA256=[0-9a-f]{64}$/);
    const out = ok(['verify', volumeTape]);
    expect(out).toMatch(/: OK\n/);
    expect(out).toMatch(/labels VOL1 HDR1 HDR2 UHL1-UHL2 sha256 [0-9a-f]{64}/);
  });

  it('verify fails naming the labels when UHL1 says more cylinders, or fewer', () => {
    for (const [name, cylinders] of [
      ['inflated.aws', 60_000],
      ['shrunk.aws', 1],
    ] as const) {
      const tape = editLabel(volumeTape, name, 'UHL1', withCylinders(cylinders));
      const r = runSnaptape(['verify', tape]);
      expect(r.status, r.stderr).toBe(16);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(
        /^snaptape: Cannot verify .*: the labels of FULLVOLUME\.LBL001 \(VOL1 HDR1 HDR2 UHL1-UHL2\) do not match their recorded SHA-256/,
      );
    }
  });

  it('verify fails naming the labels when an HDR2 field is edited', () => {
    const tape = editLabel(datasetTape, 'hdr2.aws', 'HDR2', (label) => {
      const hdr2 = decodeStandardLabel(label, { path: datasetTape, blockNumber: 0, offsetBytes: 0 }) as DataSetLabel2;
      return encodeDataSetLabel2({ ...hdr2, blockLengthBytes: hdr2.blockLengthBytes - 1 });
    });
    const r = runSnaptape(['verify', tape]);
    expect(r.status, r.stderr).toBe(16);
    expect(r.stderr).toMatch(/the labels of PROD\.BIG \(VOL1 HDR1 HDR2 UHL1-UHL5\) do not match their recorded SHA-256/);
  });

  it('a tape written before the label digest verifies, with a note that its labels are not covered', () => {
    const old = withoutLabelDigest(volumeTape, 'old.aws');
    const out = ok(['verify', old]);
    expect(out).toMatch(/: OK\n/);
    expect(out).toMatch(/labels not covered: the tape records no label digest \(UTL2\)/);
  });
});

describe('restore --new-volume checks the recorded geometry before it creates anything', () => {
  it('refuses an edited UHL1 (inflated or shrunk) on a tape with the label digest', () => {
    for (const [name, cylinders] of [
      ['r-inflated.aws', 60_000],
      ['r-shrunk.aws', 1],
    ] as const) {
      const tape = editLabel(volumeTape, name, 'UHL1', withCylinders(cylinders));
      const target = at(`${name}.ckd`);
      expectCliFailure(runSnaptape(['restore', tape, '--to', target, '--new-volume']), 'VERIFY', [/labels of FULLVOLUME\.LBL001/]);
      expect(existsSync(target), `${name}: no target`).toBe(false);
    }
  });

  it('on a tape without the label digest: refuses a UHL1 size that the tape data or the device type contradicts', () => {
    const old = withoutLabelDigest(volumeTape, 'old-base.aws');
    const cases: Array<[string, (label: Buffer) => Buffer, RegExp]> = [
      ['old-inflated.aws', withCylinders(60_000), /UHL1 records 60000 cylinders .* 45 tracks/],
      ['old-shrunk.aws', withCylinders(1), /UHL1 records 1 cylinders .* 45 tracks/],
      ['old-huge.aws', withCylinders(9_999_999), /UHL1 records 9999999 cylinders: a 3390 has at most 65535/],
      [
        'old-slot.aws',
        (label) =>
          encodeUserLabel({ labelId: 'UHL', number: 1, userData: userLabelText(decodeEbcdicTrimmed(label.subarray(4)).replace(/SLOT=\d+/, 'SLOT=4096')) }),
        /UHL1 records 4096-byte track slots: a 3390 has 56832/,
      ],
    ];
    for (const [name, edit, message] of cases) {
      const tape = editLabel(old, name, 'UHL1', edit);
      const target = at(`${name}.ckd`);
      const line = expectCliFailure(runSnaptape(['restore', tape, '--to', target, '--new-volume']), 'TAPE_LABEL', [message]);
      expect(line).toContain(tape);
      expect(existsSync(target), `${name}: no target`).toBe(false);
    }
  });

  it('a data set tape whose tracks lie past the recorded cylinders is refused', () => {
    const old = withoutLabelDigest(datasetTape, 'old-ds.aws');
    const tape = editLabel(old, 'old-ds-shrunk.aws', 'UHL1', withCylinders(1));
    const target = at('old-ds-shrunk.ckd');
    expectCliFailure(runSnaptape(['restore', tape, '--to', target, '--new-volume']), 'TAPE_LABEL', [
      /UHL1 records 1 cylinders, but block \d+ of PROD\.BIG is cylinder [12]/,
    ]);
    expect(existsSync(target)).toBe(false);
  });

  it('a restore that fails after creating its target removes it', () => {
    // 20 tracks of PROD.BIG do not fit a 1-cylinder volume (15 tracks, one of them the VTOC):
    // the allocation fails only after the new volume exists.
    const target = at('too-small.ckd');
    expectCliFailure(runSnaptape(['restore', datasetTape, '--to', target, '--new-volume', '--cyls', '1']), 'NO_SPACE', ['PROD.BIG']);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.lock`)).toBe(false);
  });

  it('the untouched tapes still restore', () => {
    ok(['restore', volumeTape, '--to', at('good-volume.ckd'), '--new-volume']);
    ok(['restore', datasetTape, '--to', at('good-dataset.ckd'), '--new-volume']);
    expect(ok(['ls', at('good-dataset.ckd')])).toMatch(/PROD\.BIG/);
  });
});
