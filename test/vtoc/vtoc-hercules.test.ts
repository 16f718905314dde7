/**
 * Layers: golden vectors and interop. `snaptape ls` against what Hercules `dasdls -info -hdr`
 * reports for the same file (parsed at run time); data sets made by `snaptape alloc` as `dasdls`
 * lists them; a data set of five extents (Format-1 + Format-3) read back by `dasdseq`; `put --text`
 * against `dasdseq -ascii`; put/get round trips.
 *
 * Hercules 3.13's dasdls has no `-cchh` option (it takes it for a file name), so extents are checked
 * by track counts and extent counts in `dasdls`, by decoding the DSCB bytes here independently of
 * src/, and by `dasdseq` reading data that spans every extent.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VolumeListing } from '../../src/api/volume-api.js';
import { asDasdlsRow, dasdlsInfo, trackOffset3390 } from '../harness/dasd.js';
import { runTool } from '../harness/external-tools.js';
import { runSnaptape, runSnaptapeOk, runSnaptapeJson, SNAPTAPE_BIN } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

const ok = runSnaptapeOk;

/** Compares `snaptape ls --json` with `dasdls -info -hdr` for one image: same names, same fields. */
function expectSameAsDasdls(image: string): VolumeListing {
  const ours = runSnaptapeJson<VolumeListing>(['ls', image]);
  const theirs = dasdlsInfo(image, dir.path);
  expect(theirs.problems).toEqual([]);
  expect(ours.volser).toBe(theirs.volser);
  expect(ours.datasets.map((d) => d.name).sort()).toEqual(theirs.rows.map((r) => r.name).sort());
  for (const row of theirs.rows) {
    const d = ours.datasets.find((x) => x.name === row.name);
    expect(d, row.name).toBeDefined();
    const { name: _name, ...fields } = row;
    expect(asDasdlsRow(d!), `fields of ${row.name}`).toEqual(fields);
  }
  return ours;
}

/** Runs dasdseq in the temp dir (it writes a file named after the data set there) and returns that file. */
function dasdseq(image: string, dsname: string, ascii: boolean): Buffer {
  const r = runTool('dasdseq', [...(ascii ? ['-ascii'] : []), image, dsname], { cwd: dir.path });
  expect(r.stderr + r.stdout).toMatch(new RegExp(`dasdseq wrote \\d+ records to ${dsname.replace(/\./g, '\\.')}`));
  return readFileSync(join(dir.path, dsname));
}

describe('snaptape ls of the Hercules-made vectors reports what dasdls reports', () => {
  it('02 (dasdload, VTOC + PS FB, PS F, PO): same data sets and every dasdls column', () => {
    const image = vectorPath('02_ckd3390_dasdload_5cyl.ckd', dir.path);
    const ours = expectSameAsDasdls(image);
    expect(ours.datasets.map((d) => [d.name, d.extents.map((e) => [e.begin.cylinder, e.begin.head, e.end.cylinder, e.end.head])])).toEqual([
      ['TEST.EMPTY.PDS', [[0, 6, 0, 7]]],
      ['TEST.SEQ.F4096', [[0, 3, 0, 5]]],
      ['TEST.TEXT.FB80', [[0, 1, 0, 2]]],
    ]);
    // Free space: track 0, 1-7 data, 8-10 VTOC; 11-74 free.
    expect(ours.freeSpace).toEqual({ freeTracks: 64, freeCylinders: 4, freeExtents: 1, largestFreeTracks: 64 });
    expect(ours.vtoc).toMatchObject({ cylinder: 0, head: 8, record: 1, tracks: 3, freeDscbs: 145 });
  });

  it('01 (dasdinit, no VTOC): dasdls finds no Format-4; ls shows the volser and says there is no VTOC', () => {
    const image = vectorPath('01_ckd3390_dasdinit_3cyl.ckd', dir.path);
    const theirs = dasdlsInfo(image, dir.path);
    expect(theirs.problems).toEqual(['F4DSCB record not found']);
    expect(theirs.rows).toEqual([]);
    const ours = runSnaptapeJson<VolumeListing>(['ls', image]);
    expect(ours).toMatchObject({ format: 'ckd', volser: 'EMPTY1', cylinders: 3, heads: 15, vtoc: null, datasets: [] });
    expect(ours.vtocProblem).toMatch(/no Format-4 DSCB at CCHHR 0000000101/);
  });

  it('04 (FBA): dasdls refuses it (not CKD); ls shows the FBA volser FBA001 and 200 blocks', () => {
    const image = vectorPath('04_fba3370_dasdinit_200blk.fba', dir.path);
    const theirs = dasdlsInfo(image, dir.path);
    expect(theirs.problems.join(' ')).toMatch(/CKD header invalid/);
    const ours = runSnaptapeJson<VolumeListing>(['ls', image]);
    expect(ours).toMatchObject({ format: 'fba', volser: 'FBA001', blocks: 200, datasets: [] });
  });

  it('10 (one volume in two files): dasdls and snaptape ls list the same data sets from the first file', () => {
    const first = vectorPath('10_ckd3390_split_1.ckd', dir.path);
    vectorPath('10_ckd3390_split_2.ckd', dir.path);
    const theirs = dasdlsInfo(first, dir.path);
    expect(theirs.rows.map((r) => [r.name, r.tracks, r.extents])).toEqual([
      ['FILLER.EMPTY', 30, 1],
      ['SPLIT.TEXT', 5, 1],
    ]);
    const ours = runSnaptapeJson<VolumeListing>(['ls', first]);
    expect(ours.cylinders).toBe(4);
    expect(ours.datasets.map((d) => [d.name, d.tracks, d.extents.length])).toEqual([
      ['FILLER.EMPTY', 30, 1],
      ['SPLIT.TEXT', 5, 1],
    ]);
  });
});

describe('data sets made by snaptape alloc, as Hercules sees them', () => {
  it('PS and PO, in tracks and cylinders: dasdls lists the same attributes, tracks and extents', () => {
    const image = join(dir.path, 'alloc.ckd');
    ok(['init', image, '--type', '3390', '--cyls', '20', '--volser', 'ALC001']);
    ok(['alloc', image, 'ALC.PS.TRK', '--tracks', '5', '--recfm', 'FB', '--lrecl', '80', '--blksize', '800', '--secondary', '2']);
    ok(['alloc', image, 'ALC.PS.CYL', '--cyls', '2', '--recfm', 'F', '--lrecl', '4096', '--blksize', '4096']);
    ok(['alloc', image, 'ALC.PO.TRK', '--tracks', '3', '--dsorg', 'PO', '--dir', '5', '--recfm', 'FB', '--lrecl', '80', '--blksize', '3120']);
    ok(['alloc', image, 'ALC.PO.CYL', '--cyls', '1', '--dsorg', 'PO', '--dir', '10', '--recfm', 'FB', '--lrecl', '80', '--blksize', '27920']);
    ok(['alloc', image, 'ALC.VB', '--tracks', '1', '--recfm', 'VB', '--lrecl', '255', '--blksize', '6233']);
    const ours = expectSameAsDasdls(image);
    const extents = Object.fromEntries(
      ours.datasets.map((d) => [d.name, d.extents.map((e) => `${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}`)]),
    );
    // First fit after track 0 and the 1-track VTOC; cylinder requests start on a cylinder boundary.
    expect(extents).toEqual({
      'ALC.PS.TRK': ['0/2-0/6'],
      'ALC.PS.CYL': ['1/0-2/14'],
      'ALC.PO.TRK': ['0/7-0/9'],
      'ALC.PO.CYL': ['3/0-3/14'],
      'ALC.VB': ['0/10-0/10'],
    });
    const row = (name: string) => dasdlsInfo(image, dir.path).rows.find((r) => r.name === name)!;
    expect([row('ALC.PS.CYL').tracks, row('ALC.PS.CYL').secondaryUnit]).toEqual([30, 'CYL']);
    expect([row('ALC.PS.TRK').tracks, row('ALC.PS.TRK').secondaryUnit, row('ALC.PS.TRK').secondary]).toEqual([5, 'TRK', 2]);
    // The cylinder extents are type 0x81 in the Format-1 bytes (decoded here, not through src/).
    const vtocTrack = readFileSync(image).subarray(trackOffset3390(1), trackOffset3390(2));
    const f1 = findDscb(vtocTrack, 'ALC.PS.CYL');
    expect(f1.subarray(105, 115).toString('hex')).toBe('81' + '00' + '0001' + '0000' + '0002' + '000e');
    expect(f1[59]).toBe(1); // DS1NOEPV
    // Data written by put into the cylinder data set reads back through dasdseq (binary F 4096).
    const payload = Buffer.alloc(3 * 4096 + 100);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
    writeFileSync(join(dir.path, 'payload.bin'), payload);
    ok(['put', image, 'ALC.PS.CYL', join(dir.path, 'payload.bin')]);
    const back = dasdseq(image, 'ALC.PS.CYL', false);
    expect(back.length).toBe(4 * 4096);
    expect(back.subarray(0, payload.length).equals(payload)).toBe(true);
    expect(back.subarray(payload.length).every((b) => b === 0)).toBe(true);
    expectSameAsDasdls(image);
  });

  it('a data set of 5 extents gets a Format-3; dasdls counts it and dasdseq reads data across every extent', () => {
    const image = join(dir.path, 'frag.ckd');
    ok(['init', image, '--type', '3390', '--cyls', '10', '--volser', 'FRG001']);
    for (let i = 1; i <= 10; i++) ok(['alloc', image, `FRAG.F${String(i).padStart(2, '0')}`, '--tracks', '2']);
    for (let i = 2; i <= 10; i += 2) ok(['delete', image, `FRAG.F${String(i).padStart(2, '0')}`]);
    // Free: 4-5, 8-9, 12-13, 16-17, 20-149. 135 tracks need the four holes and 127 of the rest.
    const alloc = JSON.parse(ok(['alloc', image, 'FRAG.MULTI', '--tracks', '135', '--recfm', 'FB', '--lrecl', '80', '--blksize', '800', '--json']));
    expect(alloc.tracks).toBe(135);
    expect(
      alloc.extents.map(
        (e: { begin: { cylinder: number; head: number }; end: { cylinder: number; head: number } }) =>
          `${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}`,
      ),
    ).toEqual(['0/4-0/5', '0/8-0/9', '0/12-0/13', '1/1-1/2', '1/5-9/11']);
    const ours = expectSameAsDasdls(image);
    expect(ours.datasets.find((d) => d.name === 'FRAG.MULTI')?.extents).toHaveLength(5);
    // The DSCB bytes: F1 has 3 extents and DS1PTRDS -> an F3 with key 03030303, id F3, extents 4 and 5.
    const bytes = readFileSync(image);
    const vtocTrack = bytes.subarray(trackOffset3390(1), trackOffset3390(2));
    const f1 = findDscb(vtocTrack, 'FRAG.MULTI');
    expect(f1[59]).toBe(5);
    const ptr = f1.subarray(135, 140);
    expect(ptr.readUInt16BE(0) * 15 + ptr.readUInt16BE(2)).toBe(1);
    const f3 = dscbAt(vtocTrack, ptr[4] as number);
    expect(f3.subarray(0, 4).toString('hex')).toBe('03030303');
    expect(f3[44]).toBe(0xf3);
    expect(f3.subarray(4, 14).toString('hex')).toBe('01' + '03' + '0001' + '0001' + '0001' + '0002');
    expect(f3.subarray(14, 24).toString('hex')).toBe('01' + '04' + '0001' + '0005' + '0009' + '000b');
    expect(f3.subarray(135, 140).toString('hex')).toBe('0000000000');
    // 4000 lines of FB 80/800: 400 blocks, 39 per track -> 11 tracks, i.e. into the fifth extent.
    const lines = Array.from({ length: 4000 }, (_, i) => `RECORD ${String(i + 1).padStart(5, '0')} OF THE MULTI-EXTENT DATA SET`);
    const text = `${lines.join('\n')}\n`;
    writeFileSync(join(dir.path, 'multi.txt'), text);
    const put = JSON.parse(ok(['put', image, 'FRAG.MULTI', join(dir.path, 'multi.txt'), '--text', '--json']));
    expect(put).toMatchObject({ records: 4000, blocks: 400, tracksUsed: 11 });
    expect(dasdseq(image, 'FRAG.MULTI', true).toString('latin1')).toBe(text);
    expectSameAsDasdls(image);
  });
});

describe('put and get', () => {
  let image: string;
  beforeAll(() => {
    image = join(dir.path, 'io.ckd');
    ok(['init', image, '--type', '3390', '--cyls', '10', '--volser', 'IO0001']);
  });

  it('put --text, then Hercules dasdseq -ascii gives back the host file exactly', () => {
    ok(['alloc', image, 'IO.TEXT', '--tracks', '3', '--recfm', 'FB', '--lrecl', '80', '--blksize', '800']);
    // Characters on which Hercules' default table and CP037 agree (native-layout/ebcdic.md).
    const text =
      Array.from({ length: 150 }, (_, i) => `Line ${i}: The quick brown fox, (${i * 3}) jumps; over = "the" lazy dog? #${i}@$*&-/.`).join('\n') + '\n';
    writeFileSync(join(dir.path, 'host.txt'), text);
    ok(['put', image, 'IO.TEXT', join(dir.path, 'host.txt'), '--text']);
    expect(dasdseq(image, 'IO.TEXT', true).toString('latin1')).toBe(text);
    // And our own get --text agrees.
    ok(['get', image, 'IO.TEXT', join(dir.path, 'back.txt'), '--text']);
    expect(readFileSync(join(dir.path, 'back.txt'), 'latin1')).toBe(text);
    // The blocks are blank-padded EBCDIC records of 80 bytes (dasdseq without -ascii).
    const raw = dasdseq(image, 'IO.TEXT', false);
    expect(raw.length).toBe(150 * 80);
    expect(raw.subarray(0, 4).toString('hex')).toBe('d3899585'); // "Line"
    expect(raw[79]).toBe(0x40);
  });

  it('binary round trip, RECFM U: get returns the exact bytes', () => {
    ok(['alloc', image, 'IO.BIN.U', '--tracks', '10', '--recfm', 'U', '--lrecl', '0', '--blksize', '6144']);
    const data = Buffer.alloc(123_457);
    let x = 12345;
    for (let i = 0; i < data.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      data[i] = x >>> 24;
    }
    writeFileSync(join(dir.path, 'u.bin'), data);
    ok(['put', image, 'IO.BIN.U', join(dir.path, 'u.bin')]);
    ok(['get', image, 'IO.BIN.U', join(dir.path, 'u.back')]);
    expect(readFileSync(join(dir.path, 'u.back')).equals(data)).toBe(true);
    // get without outfile writes the bytes to stdout.
    const r = spawnSync(process.execPath, [SNAPTAPE_BIN, 'get', image, 'IO.BIN.U'], { maxBuffer: 1 << 24 });
    expect(r.status).toBe(0);
    expect(Buffer.from(r.stdout).equals(data)).toBe(true);
  });

  it('binary round trip, RECFM FB: a partial last record comes back zero-padded to LRECL', () => {
    ok(['alloc', image, 'IO.BIN.FB', '--tracks', '4', '--recfm', 'FB', '--lrecl', '100', '--blksize', '1000']);
    const data = Buffer.alloc(4321);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    writeFileSync(join(dir.path, 'fb.bin'), data);
    const put = JSON.parse(ok(['put', image, 'IO.BIN.FB', join(dir.path, 'fb.bin'), '--json']));
    expect(put).toMatchObject({ records: 44, blocks: 5 });
    ok(['get', image, 'IO.BIN.FB', join(dir.path, 'fb.back')]);
    const back = readFileSync(join(dir.path, 'fb.back'));
    expect(back.length).toBe(4400);
    expect(back.subarray(0, 4321).equals(data)).toBe(true);
    expect(back.subarray(4321).every((b) => b === 0)).toBe(true);
    expect(dasdseq(image, 'IO.BIN.FB', false).equals(back)).toBe(true);
  });

  it('put of more data than the data set holds is a DATASET error and changes nothing', () => {
    ok(['alloc', image, 'IO.SMALL', '--tracks', '1', '--recfm', 'F', '--lrecl', '4096', '--blksize', '4096']);
    writeFileSync(join(dir.path, 'big.bin'), Buffer.alloc(4096 * 13, 1));
    const before = readFileSync(image);
    const r = runSnaptape(['put', image, 'IO.SMALL', join(dir.path, 'big.bin')]);
    expect(r.status).toBe(8);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/Cannot put 53248 bytes into IO\.SMALL: they need 2 tracks and the data set has 1/);
    expect(readFileSync(image).equals(before)).toBe(true);
    expectSameAsDasdls(image);
  });
});

// ---- DSCB helpers, from native-layout/ckd-track.md, native-layout/dscb-extent.md (not from src/) --------------------------------

/** Walks a VTOC track image and returns DSCB R`record` as key ‖ data (140 bytes). */
function dscbAt(track: Buffer, record: number): Buffer {
  let pos = 5;
  while (!track.subarray(pos, pos + 8).equals(Buffer.alloc(8, 0xff))) {
    const r = track[pos + 4] as number;
    const kl = track[pos + 5] as number;
    const dl = track.readUInt16BE(pos + 6);
    if (r === record) return track.subarray(pos + 8, pos + 8 + kl + dl);
    pos += 8 + kl + dl;
  }
  throw new Error(`no record ${record} on the VTOC track`);
}

function findDscb(track: Buffer, dsname: string): Buffer {
  for (let r = 1; r <= 50; r++) {
    const dscb = dscbAt(track, r);
    if (dscb[44] === 0xf1 && ebcdicName(dscb.subarray(0, 44)) === dsname) return dscb;
  }
  throw new Error(`no Format-1 for ${dsname}`);
}

const EBCDIC_NAME_CHARS: Record<number, string> = { 0x40: ' ', 0x4b: '.', 0x5b: '$', 0x7b: '#', 0x7c: '@', 0x60: '-' };
function ebcdicName(bytes: Buffer): string {
  let s = '';
  for (const b of bytes) {
    if (b >= 0xc1 && b <= 0xc9) s += String.fromCharCode(65 + b - 0xc1);
    else if (b >= 0xd1 && b <= 0xd9) s += String.fromCharCode(74 + b - 0xd1);
    else if (b >= 0xe2 && b <= 0xe9) s += String.fromCharCode(83 + b - 0xe2);
    else if (b >= 0xf0 && b <= 0xf9) s += String.fromCharCode(48 + b - 0xf0);
    else s += EBCDIC_NAME_CHARS[b] ?? '?';
  }
  return s.trimEnd();
}
