/**
 * Data-set restore in the manner of DFSMSdss RESTORE (issue 18.1): into an existing volume a data
 * set comes back only through the VTOC, allocated in free space and catalogued; a name clash is
 * refused unless `--replace`; `--rename` restores under another name; space is checked before the
 * first byte; nothing outside the new extents is written. Hercules `dasdls` and `dasdseq` must
 * agree with snaptape afterwards, and every other data set compares unchanged, track by track.
 *
 * Each case was tried on the code before this change and wrote blind (see the issue): the restored
 * data set was missing from the VTOC, another data set was overwritten, or the VTOC was.
 */
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VolumeListing } from '../../src/api/volume-api.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { dasdlsInfo, HERCULES_3390, sha256File } from '../harness/dasd.js';
import { runTool } from '../harness/external-tools.js';
import { runSnaptape, runSnaptapeJson, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let source: string;
let tape: string;
const payloads: Record<string, Buffer> = {};
let copies = 0;

function payload(seed: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function putPayload(image: string, name: string, data: Buffer): void {
  const file = join(dir.path, `${name}.${copies}.bin`);
  writeFileSync(file, data);
  runSnaptapeOk(['put', image, name, file]);
}

/** A fresh copy of the source volume for one case. */
function workCopy(): string {
  copies += 1;
  const path = join(dir.path, `work${copies}.ckd`);
  copyFileSync(source, path);
  return path;
}

function listing(image: string): VolumeListing {
  return runSnaptapeJson<VolumeListing>(['ls', image]);
}

/** Track indexes of a data set's extents, from our listing. */
function tracksOf(list: VolumeListing, name: string): number[] {
  const d = list.datasets.find((x) => x.name === name);
  if (!d) throw new Error(`${name} is not on ${list.volser}`);
  return d.extents.flatMap((e) => {
    const first = e.begin.cylinder * HERCULES_3390.heads + e.begin.head;
    return Array.from({ length: e.tracks }, (_, i) => first + i);
  });
}

/** SHA-256 of each track slot, read from the image file directly. */
function trackHashes(image: string, tracks: readonly number[]): string[] {
  const fd = openSync(image, 'r');
  try {
    const slot = Buffer.alloc(HERCULES_3390.trackSlotBytes);
    return tracks.map((t) => {
      slot.fill(0);
      readSync(fd, slot, 0, slot.length, HERCULES_3390.headerBytes + t * HERCULES_3390.trackSlotBytes);
      return createHash('sha256').update(slot).digest('hex');
    });
  } finally {
    closeSync(fd);
  }
}

/** The data set's content as `get` reads it, cut to the length that was put. */
function getData(image: string, name: string, length: number): Buffer {
  const out = join(dir.path, `get-${name}-${copies}-${Math.random().toString(36).slice(2)}.bin`);
  runSnaptapeOk(['get', image, name, out]);
  return readFileSync(out).subarray(0, length);
}

/** What Hercules `dasdseq` extracts, cut to the length that was put. */
function dasdseqData(image: string, name: string, length: number): Buffer {
  const cwd = join(dir.path);
  const r = runTool('dasdseq', [image, name], { cwd });
  expect(r.stderr + r.stdout).toMatch(/dasdseq wrote \d+ records/);
  return readFileSync(join(cwd, name)).subarray(0, length);
}

/** dasdls lists exactly the data sets that snaptape lists, with the same track counts. */
function expectDasdlsAgrees(image: string): void {
  const theirs = dasdlsInfo(image, dir.path);
  expect(theirs.problems).toEqual([]);
  const ours = listing(image);
  expect(theirs.rows.map((r) => [r.name, r.tracks, r.extents]).sort()).toEqual(ours.datasets.map((d) => [d.name, d.tracks, d.extents.length]).sort());
}

function expectCheckClean(image: string): void {
  const r = runSnaptape(['check', image]);
  expect(r.status, r.stdout + r.stderr).toBe(0);
}

beforeAll(() => {
  dir = makeTempDir();
  source = join(dir.path, 'source.ckd');
  runSnaptapeOk(['init', source, '--type', '3390', '--cyls', '30', '--volser', 'DSR001']);
  const shapes: [string, number, number][] = [
    ['DS.A', 10, 200_000],
    ['DS.B', 6, 100_000],
    ['DS.C', 20, 400_000],
  ];
  for (const [name, tracks, bytes] of shapes) {
    runSnaptapeOk(['alloc', source, name, '--tracks', String(tracks), '--recfm', 'F', '--lrecl', '4096', '--blksize', '4096']);
    payloads[name] = payload(tracks * 7 + bytes, bytes);
    putPayload(source, name, payloads[name]!);
  }
  tape = join(dir.path, 'ds.aws');
  runSnaptapeOk(['backup', source, '--to', tape, '--datasets', 'DS.**']);
}, 120_000);
afterAll(() => dir.cleanup());

describe('restore --dataset into an existing volume', () => {
  it('a deleted data set comes back through the VTOC: ls, get, dasdls and dasdseq find it; nothing else changes', () => {
    const work = workCopy();
    const before = listing(work);
    const others = [...tracksOf(before, 'DS.B'), ...tracksOf(before, 'DS.C')];
    const othersBefore = trackHashes(work, others);
    runSnaptapeOk(['delete', work, 'DS.A']);
    runSnaptapeOk(['restore', tape, '--to', work, '--dataset', 'DS.A']);
    expect(
      listing(work)
        .datasets.map((d) => d.name)
        .sort(),
    ).toEqual(['DS.A', 'DS.B', 'DS.C']);
    expect(getData(work, 'DS.A', payloads['DS.A']!.length).equals(payloads['DS.A']!)).toBe(true);
    expect(dasdseqData(work, 'DS.A', payloads['DS.A']!.length).equals(payloads['DS.A']!)).toBe(true);
    expect(trackHashes(work, others)).toEqual(othersBefore);
    expectDasdlsAgrees(work);
    expectCheckClean(work);
  });

  it('relocates around a data set that now holds the old tracks, and leaves that one unchanged', () => {
    const work = workCopy();
    runSnaptapeOk(['delete', work, 'DS.A']);
    runSnaptapeOk(['alloc', work, 'DS.X', '--tracks', '10', '--recfm', 'F', '--lrecl', '4096', '--blksize', '4096']);
    const x = payload(99, 150_000);
    putPayload(work, 'DS.X', x);
    const before = listing(work);
    const oldA = tracksOf(listing(source), 'DS.A');
    expect(tracksOf(before, 'DS.X'), 'DS.X took the tracks DS.A had').toEqual(oldA);
    const others = [...tracksOf(before, 'DS.X'), ...tracksOf(before, 'DS.B'), ...tracksOf(before, 'DS.C')];
    const othersBefore = trackHashes(work, others);
    runSnaptapeOk(['restore', tape, '--to', work, '--dataset', 'DS.A']);
    const after = listing(work);
    expect(tracksOf(after, 'DS.A').some((t) => oldA.includes(t))).toBe(false);
    expect(trackHashes(work, others)).toEqual(othersBefore);
    expect(getData(work, 'DS.X', x.length).equals(x)).toBe(true);
    expect(getData(work, 'DS.A', payloads['DS.A']!.length).equals(payloads['DS.A']!)).toBe(true);
    expect(dasdseqData(work, 'DS.A', payloads['DS.A']!.length).equals(payloads['DS.A']!)).toBe(true);
    expectDasdlsAgrees(work);
    expectCheckClean(work);
  });

  it('refuses a name clash without --replace, and writes nothing', () => {
    const work = workCopy();
    const before = sha256File(work);
    const r = runSnaptape(['restore', tape, '--to', work, '--dataset', 'DS.A']);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.TARGET_EXISTS);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/DS\.A.*--replace/);
    expect(sha256File(work)).toBe(before);
  });

  it('--replace overwrites a data set of the same name in its own extents when the data fits', () => {
    const work = workCopy();
    putPayload(work, 'DS.A', payload(5, 50_000));
    const before = listing(work);
    const othersBefore = trackHashes(work, [...tracksOf(before, 'DS.B'), ...tracksOf(before, 'DS.C')]);
    runSnaptapeOk(['restore', tape, '--to', work, '--dataset', 'DS.A', '--replace']);
    const after = listing(work);
    expect(tracksOf(after, 'DS.A')).toEqual(tracksOf(before, 'DS.A'));
    expect(getData(work, 'DS.A', payloads['DS.A']!.length).equals(payloads['DS.A']!)).toBe(true);
    expect(trackHashes(work, [...tracksOf(before, 'DS.B'), ...tracksOf(before, 'DS.C')])).toEqual(othersBefore);
    expectDasdlsAgrees(work);
    expectCheckClean(work);
  });

  it('--replace reallocates a data set of the same name that is too small', () => {
    const work = workCopy();
    runSnaptapeOk(['delete', work, 'DS.A']);
    runSnaptapeOk(['alloc', work, 'DS.A', '--tracks', '2', '--recfm', 'F', '--lrecl', '4096', '--blksize', '4096']);
    const before = listing(work);
    const othersBefore = trackHashes(work, [...tracksOf(before, 'DS.B'), ...tracksOf(before, 'DS.C')]);
    runSnaptapeOk(['restore', tape, '--to', work, '--dataset', 'DS.A', '--replace']);
    const after = listing(work);
    expect(after.datasets.find((d) => d.name === 'DS.A')?.tracks).toBe(10);
    expect(getData(work, 'DS.A', payloads['DS.A']!.length).equals(payloads['DS.A']!)).toBe(true);
    expect(dasdseqData(work, 'DS.A', payloads['DS.A']!.length).equals(payloads['DS.A']!)).toBe(true);
    expect(trackHashes(work, [...tracksOf(before, 'DS.B'), ...tracksOf(before, 'DS.C')])).toEqual(othersBefore);
    expectDasdlsAgrees(work);
    expectCheckClean(work);
  });

  it('--rename restores under another name beside the original, which stays unchanged', () => {
    const work = workCopy();
    const before = listing(work);
    const keep = [...tracksOf(before, 'DS.A'), ...tracksOf(before, 'DS.B'), ...tracksOf(before, 'DS.C')];
    const keepBefore = trackHashes(work, keep);
    runSnaptapeOk(['restore', tape, '--to', work, '--dataset', 'DS.C', '--rename', 'DS.C.OLD']);
    expect(
      listing(work)
        .datasets.map((d) => d.name)
        .sort(),
    ).toEqual(['DS.A', 'DS.B', 'DS.C', 'DS.C.OLD']);
    expect(getData(work, 'DS.C.OLD', payloads['DS.C']!.length).equals(payloads['DS.C']!)).toBe(true);
    expect(dasdseqData(work, 'DS.C.OLD', payloads['DS.C']!.length).equals(payloads['DS.C']!)).toBe(true);
    expect(trackHashes(work, keep)).toEqual(keepBefore);
    expectDasdlsAgrees(work);
    expectCheckClean(work);
  });

  it('refuses when the free space is too small, before writing anything', () => {
    const work = workCopy();
    runSnaptapeOk(['delete', work, 'DS.C']);
    const free = listing(work).freeSpace!.freeTracks;
    runSnaptapeOk(['alloc', work, 'DS.FILLER', '--tracks', String(free - 5), '--recfm', 'F', '--lrecl', '4096', '--blksize', '4096']);
    const before = sha256File(work);
    const r = runSnaptape(['restore', tape, '--to', work, '--dataset', 'DS.C']);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.NO_SPACE);
    expect(r.stderr).toMatch(/DS\.C/);
    expect(sha256File(work)).toBe(before);
  });

  it('refuses a volume that is too small, before writing anything', () => {
    const tiny = join(dir.path, 'tiny.ckd');
    runSnaptapeOk(['init', tiny, '--type', '3390', '--cyls', '1', '--volser', 'TINY01']);
    const before = sha256File(tiny);
    const r = runSnaptape(['restore', tape, '--to', tiny, '--dataset', 'DS.C']);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.NO_SPACE);
    expect(sha256File(tiny)).toBe(before);
  });

  it('never writes into the VTOC of a bigger volume whose VTOC sits where the data set was', () => {
    const big = join(dir.path, 'big.ckd');
    runSnaptapeOk(['init', big, '--type', '3390', '--cyls', '200', '--volser', 'BIG001']);
    const vtoc = listing(big).vtoc!;
    const vtocFirst = vtoc.cylinder * HERCULES_3390.heads + vtoc.head;
    const oldA = tracksOf(listing(source), 'DS.A');
    expect(
      oldA.some((t) => t >= vtocFirst && t < vtocFirst + vtoc.tracks),
      "the case needs DS.A's home tracks inside this VTOC",
    ).toBe(true);
    runSnaptapeOk(['restore', tape, '--to', big, '--dataset', 'DS.A']);
    const after = listing(big);
    expect(after.vtoc?.tracks).toBe(vtoc.tracks);
    expect(after.datasets.map((d) => d.name)).toEqual(['DS.A']);
    expect(tracksOf(after, 'DS.A').some((t) => t >= vtocFirst && t < vtocFirst + vtoc.tracks)).toBe(false);
    expect(getData(big, 'DS.A', payloads['DS.A']!.length).equals(payloads['DS.A']!)).toBe(true);
    expectDasdlsAgrees(big);
    expectCheckClean(big);
  });

  it('names the device mismatch when the target is of another device type', () => {
    const other = join(dir.path, 'other.ckd');
    runSnaptapeOk(['init', other, '--type', '3380-J', '--volser', 'OTH380']);
    const before = sha256File(other);
    const r = runSnaptape(['restore', tape, '--to', other, '--dataset', 'DS.A']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/3390/);
    expect(r.stderr).toMatch(/3380/);
    expect(r.stderr).not.toMatch(/slot/);
    expect(sha256File(other)).toBe(before);
  });
});

describe('restore of a whole volume into an existing volume', () => {
  let wholeTape: string;
  beforeAll(() => {
    wholeTape = join(dir.path, 'whole.aws');
    runSnaptapeOk(['backup', source, '--to', wholeTape]);
  });

  it('goes to a volume of the same type with more cylinders, and the free space grows with it', () => {
    const bigger = join(dir.path, 'bigger.ckd');
    runSnaptapeOk(['init', bigger, '--type', '3390', '--cyls', '40', '--volser', 'BIGGER']);
    runSnaptapeOk(['restore', wholeTape, '--to', bigger]);
    const was = listing(source);
    const now = listing(bigger);
    expect(now.volser).toBe('DSR001');
    expect(now.datasets.map((d) => [d.name, d.tracks])).toEqual(was.datasets.map((d) => [d.name, d.tracks]));
    expect(now.freeSpace!.freeTracks).toBe(was.freeSpace!.freeTracks + 10 * HERCULES_3390.heads);
    for (const name of ['DS.A', 'DS.B', 'DS.C']) expect(getData(bigger, name, payloads[name]!.length).equals(payloads[name]!)).toBe(true);
    expectDasdlsAgrees(bigger);
    expectCheckClean(bigger);
  });

  it('refuses a volume with fewer cylinders, before writing anything', () => {
    const smaller = join(dir.path, 'smaller.ckd');
    runSnaptapeOk(['init', smaller, '--type', '3390', '--cyls', '20', '--volser', 'SMALLR']);
    const before = sha256File(smaller);
    const r = runSnaptape(['restore', wholeTape, '--to', smaller]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/30 cylinders/);
    expect(sha256File(smaller)).toBe(before);
  });
});
