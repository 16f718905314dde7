/**
 * Layer: named fault scenarios on copies of real volumes. The structural VTOC check: each
 * corruption is made on a copy of vector 02 (dasdload: VTOC on cylinder 0 heads 8-10, R1 F4, R2 F5,
 * R3-R5 the Format-1s of TEST.TEXT.FB80 (tracks 1-2), TEST.SEQ.F4096 (3-5), TEST.EMPTY.PDS (6-7))
 * or on a volume snaptape made, and the problem kind and CCHHR / track are asserted. --repair
 * rebuilds only the Format-5 chain and the Format-4 counters, and then Hercules dasdls still lists
 * the volume; damage that could lose data is left alone. DSCB offsets (native-layout/dscb-format4.md, -format5.md, -format1.md) are
 * found by walking the count fields (check-fixtures.ts), not through src/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeEbcdic } from '../../src/base/ebcdic.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { dasdlsInfo } from '../harness/dasd.js';
import { runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { checkJson, ckdRecords, copyVector, dscbByte, fileState, patchFile } from './check-fixtures.js';

const dir = makeTempDir();
afterAll(() => dir.cleanup());

const V02 = '02_ckd3390_dasdload_5cyl.ckd';
const VTOC_TRACK = 8;
/** DSCB field offsets (native-layout/dscb-format4.md, native-layout/dscb-format1.md, within the 140-byte key ‖ data). */
const DS4DSREC = 50;
const DS4VTOCI = 58;
const DS4VTOCE = 105;
const DS1NOEPV = 59;
const DS1EXT1 = 105;
const DS1PTRDS = 135;
/** Within an extent: type(1) seq(1) beginCC(2) beginHH(2) endCC(2) endHH(2). */
const BEGIN_HH = 4;
const END_CC = 6;
const END_HH = 8;

function copy02(name: string): string {
  return copyVector(V02, dir.path, `${name}.ckd`);
}

function patchDscb(path: string, record: number, offset: number, bytes: readonly number[]): void {
  patchFile(path, dscbByte(path, VTOC_TRACK, record, offset), bytes);
}

function checkReadOnly(path: string): ReturnType<typeof checkJson>['report'] {
  const before = fileState(path);
  const { status, report } = checkJson(path);
  expect(fileState(path), 'a check without --repair writes nothing').toEqual(before);
  expect(status).toBe(report.clean ? 0 : EXIT_STATUS_BY_CODE.VERIFY);
  return report;
}

function kindsAt(report: ReturnType<typeof checkJson>['report']): [string, string | undefined, number | undefined][] {
  return report.problems.map((p) => [p.kind, p.location.cchhr, p.location.track]);
}

const vol1Pointer = (path: string): number => (ckdRecords(path, 0).get(3)?.dataOffset as number) + 11;

describe('VOL1 and the Format-4', () => {
  it('VOL1 pointing outside the volume: kind vol1 at VOL1 (CCHHR 0000000003)', () => {
    const path = copy02('vol1-outside');
    patchFile(path, vol1Pointer(path), [0x01, 0x00, 0x00, 0x00, 0x01]);
    const report = checkReadOnly(path);
    expect(kindsAt(report)).toEqual([['vol1', '0000000003', 0]]);
    expect(report.problems[0]?.message).toMatch(/points at CCHHR 0100000001 for the VTOC/);
  });

  it('no VOL1 label on track 0: kind vol1', () => {
    const path = copy02('vol1-missing');
    patchFile(path, ckdRecords(path, 0).get(3)?.keyOffset as number, encodeEbcdic('XXXX'));
    expect(kindsAt(checkReadOnly(path))).toEqual([['vol1', '0000000003', 0]]);
  });

  it('VOL1 pointing at a Format-1 instead of the Format-4: kind format4 at that CCHHR', () => {
    const path = copy02('vol1-f1');
    patchFile(path, vol1Pointer(path) + 4, [0x03]);
    const report = checkReadOnly(path);
    expect(kindsAt(report)).toEqual([['format4', '0000000803', 8]]);
    expect(report.problems[0]?.message).toMatch(/format id 0xf1, not the Format-4 DSCB/);
  });

  it('a VTOC extent that runs past the volume: kind vtoc-extent at the Format-4', () => {
    const path = copy02('vtoce');
    patchDscb(path, 1, DS4VTOCE + END_CC, [0x00, 0x09]);
    const report = checkReadOnly(path);
    expect(kindsAt(report)).toEqual([['vtoc-extent', '0000000801', 8]]);
    expect(report.problems[0]?.message).toMatch(/CC\/HH 0\/8-9\/10\) .* not an extent on the volume \(cylinders 0-4/);
  });
});

describe('Format-1 DSCBs and their extents', () => {
  it('a Format-1 that says more extents than its DSCBs hold: kind dscb-chain at its CCHHR', () => {
    const path = copy02('noepv');
    patchDscb(path, 3, DS1NOEPV, [2]);
    const report = checkReadOnly(path);
    expect(kindsAt(report)).toEqual([['dscb-chain', '0000000803', 8]]);
    expect(report.problems[0]?.message).toMatch(/TEST.TEXT.FB80 .* says 2 extents \(DS1NOEPV\) but its DSCBs hold 1/);
  });

  it('a Format-3 pointer to a DSCB that is not a Format-3: kind dscb-chain', () => {
    const path = copy02('f3-pointer');
    patchDscb(path, 4, DS1NOEPV, [4]);
    patchDscb(path, 4, DS1PTRDS, [0x00, 0x00, 0x00, 0x08, 0x05]);
    const report = checkReadOnly(path);
    expect(report.problems[0]).toMatchObject({ kind: 'dscb-chain', location: { cchhr: '0000000804' } });
    expect(report.problems[0]?.message).toMatch(/pointer to CCHHR 0000000805, which is not a Format-3 DSCB/);
  });

  it('an extent outside the volume: kind extent-outside at the Format-1', () => {
    const path = copy02('outside');
    patchDscb(path, 4, DS1EXT1 + END_CC, [0x00, 0x07]);
    const report = checkReadOnly(path);
    expect(kindsAt(report)).toEqual([['extent-outside', '0000000804', 8]]);
    expect(report.problems[0]?.message).toMatch(/TEST.SEQ.F4096 has extent 0 \(CC\/HH 0\/3-7\/5\) outside the volume/);
  });

  it('two data sets sharing a track: kind extent-overlap at the later Format-1, on the first shared track', () => {
    const path = copy02('overlap');
    patchDscb(path, 4, DS1EXT1 + BEGIN_HH, [0x00, 0x02]);
    const report = checkReadOnly(path);
    expect(kindsAt(report)).toEqual([['extent-overlap', '0000000804', 2]]);
    expect(report.problems[0]?.message).toMatch(
      /TEST.SEQ.F4096 extent 0 .*\(tracks 2-5\) overlaps data set TEST.TEXT.FB80 extent 0 .*\(tracks 1-2\) on track 2/,
    );
  });

  it('a data set reaching into the VTOC: kind extent-overlap naming the VTOC', () => {
    const path = copy02('into-vtoc');
    patchDscb(path, 5, DS1EXT1 + END_HH, [0x00, 0x09]);
    const report = checkReadOnly(path);
    expect(kindsAt(report)).toEqual([['extent-overlap', '0000000805', 8]]);
    expect(report.problems[0]?.message).toMatch(/the VTOC .* overlaps data set TEST.EMPTY.PDS .* on tracks 8-9/);
  });

  it('a VTOC track that does not decode: kind dscb at the track (and the track problem); no count or free-space guess', () => {
    const path = copy02('vtoc-track');
    // Track 9's home address names cylinder 7.
    patchFile(path, 512 + 9 * 56832 + 1, [0x00, 0x07]);
    const report = checkReadOnly(path);
    expect(report.problems.map((p) => [p.kind, p.location.track])).toEqual([
      ['track', 9],
      ['dscb', 9],
    ]);
  });
});

describe('free space and counters (the repairable summaries)', () => {
  it('a wrong DS4DSREC: kind vtoc-dscb-count; --repair rebuilds it and dasdls lists the volume as before', () => {
    const path = copy02('dsrec');
    const listing = dasdlsInfo(path, dir.path);
    patchDscb(path, 1, DS4DSREC, [0x00, 0x07]);
    const report = checkReadOnly(path);
    expect(kindsAt(report)).toEqual([['vtoc-dscb-count', '0000000801', 8]]);
    expect(report.problems[0]?.message).toMatch(/DS4DSREC says 7 free DSCBs, but the VTOC has 145 Format-0 DSCBs/);
    const repaired = checkJson(path, { repair: true });
    expect(repaired.status).toBe(0);
    expect(repaired.report.repaired[0]).toMatch(/rebuilt the Format-5 free-space chain and the Format-4 counters/);
    expect(repaired.report).toMatchObject({ clean: true, remaining: [] });
    expect(checkJson(path).report.clean).toBe(true);
    const after = dasdlsInfo(path, dir.path);
    expect(after.problems).toEqual([]);
    expect(after.rows).toEqual(listing.rows);
  });

  it('a Format-5 that does not list the free tracks (DS4VTOCI says it is valid): kind vtoc-free-space at the F5; repaired', () => {
    const path = copy02('f5-empty');
    // dasdload leaves F5 empty and sets 0x80 ("rebuild"); clearing the bit makes the empty F5 a claim.
    patchDscb(path, 1, DS4VTOCI, [0x00]);
    const report = checkReadOnly(path);
    expect(kindsAt(report)).toEqual([['vtoc-free-space', '0000000802', 11]]);
    expect(report.problems[0]?.message).toMatch(/tracks 11-74 are used by no extent, but the Format-5 chain does not list them as free/);
    expect(checkJson(path, { repair: true }).report).toMatchObject({ clean: true });
    expect(dasdlsInfo(path, dir.path).problems).toEqual([]);
  });

  it('a Format-5 that calls used tracks free on a snaptape volume: kind vtoc-free-space; repaired', () => {
    const path = join(dir.path, 'made.ckd');
    runSnaptapeOk(['init', path, '--type', '3390', '--cyls', '5', '--volser', 'MADE01']);
    runSnaptapeOk(['alloc', path, 'MY.DATA', '--tracks', '10', '--recfm', 'FB', '--lrecl', '80', '--blksize', '800']);
    expect(checkJson(path).report.clean).toBe(true);
    // VOL1's VTOC pointer CCHHR: cylinder 0 on a volume this small, so the head is the track.
    const vtocTrack = readFileSync(path).readUInt16BE(vol1Pointer(path) + 2);
    // F5 free extent 1 (DSCB bytes 4-8): relative track 1, 0 cylinders, 5 tracks — MY.DATA's tracks.
    patchFile(path, dscbByte(path, vtocTrack, 2, 4), [0x00, 0x01, 0x00, 0x00, 0x05]);
    const report = checkReadOnly(path);
    expect(report.problems.map((p) => p.kind)).toContain('vtoc-free-space');
    expect(report.problems.find((p) => /as free, but extents use them/.test(p.message))).toBeDefined();
    expect(checkJson(path, { repair: true }).report).toMatchObject({ clean: true });
  });

  it('no repair while the extents are wrong: an overlap and a wrong DS4DSREC are both left', () => {
    const path = copy02('overlap-and-count');
    patchDscb(path, 4, DS1EXT1 + BEGIN_HH, [0x00, 0x02]);
    patchDscb(path, 1, DS4DSREC, [0x00, 0x07]);
    const before = fileState(path);
    const { status, report } = checkJson(path, { repair: true });
    expect(status).toBe(EXIT_STATUS_BY_CODE.VERIFY);
    expect(report.repaired).toEqual([]);
    expect(report.remaining.map((p) => p.kind).sort()).toEqual(['extent-overlap', 'vtoc-dscb-count']);
    expect(report.notRepaired.join('\n')).toMatch(/extent-overlap: .*freeing them could lose data/);
    expect(report.notRepaired.join('\n')).toMatch(/vtoc-dscb-count: not rebuilt: other VTOC damage/);
    expect(fileState(path).sha256).toBe(before.sha256);
  });
});
