/**
 * Layer: CLI on crafted volumes (issue 16, item 1). A data set whose extents cross track 0, the
 * VTOC, another data set or the volume's end is never written through: `put`, `delete` and a
 * restore --replace refuse with one line naming the data set, the extent and what it overlaps, and
 * the image's SHA-256 is unchanged. The volumes are built with snaptape's API and then one DSCB is
 * corrupted (crafted-vtoc.ts).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createVolume, openVolume } from '../../src/api/volume-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { VtocError } from '../../src/errors/snaptape-error.js';
import { cloneRecordPath } from '../../src/techniques/clone/clone-record.js';
import { encodeFormat1 } from '../../src/vtoc/dscb-codec.js';
import { guardDatasetWrites, writePlanOfTracks } from '../../src/vtoc/dataset-write-guard.js';
import { extentFromRun, EXTENT_TYPE } from '../../src/vtoc/extent.js';
import { findDataset, readVtoc } from '../../src/vtoc/vtoc-reader.js';
import { writeDscb } from '../../src/vtoc/vtoc-writer.js';
import { readAllSlots } from '../snapshot/helpers/subsystem-fixtures.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { fileState } from '../check/check-fixtures.js';
import { bContent, buildGuardVolume, craftChainLoop, craftOverlapOther, craftOverLabelAndVtoc, craftPastEnd } from './crafted-vtoc.js';

const dir = makeTempDir();
afterAll(() => dir.cleanup());

/** 300 lines of text: 300 records of 80 bytes, about 24,000 bytes, one track or so. */
const hostFile = join(dir.path, 'host.txt');
writeFileSync(hostFile, Array.from({ length: 300 }, (_, i) => `LINE ${i}`).join('\n') + '\n');
/** What B.DATA holds, for comparing what `get` returns. */
writeFileSync(join(dir.path, 'b.want'), bContent());

function expectRefused(args: readonly string[], path: string, pattern: RegExp): string {
  const before = fileState(path).sha256;
  const r = runSnaptape(args);
  expect(r.status, r.stderr).toBe(EXIT_STATUS_BY_CODE.VTOC);
  const lines = r.stderr.trim().split('\n');
  expect(lines, 'one clear line').toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(fileState(path).sha256, 'nothing written').toBe(before);
  return lines[0] as string;
}

function expectRefusedStatus(args: readonly string[]): string {
  const r = runSnaptape(args);
  expect(r.status, r.stderr).toBe(EXIT_STATUS_BY_CODE.VTOC);
  const lines = r.stderr.trim().split('\n');
  expect(lines, 'one clear line').toHaveLength(1);
  return lines[0] as string;
}

describe('put through a corrupt VTOC', () => {
  it('an extent over track 0 and the VTOC: put is refused, the image unchanged, ls still works', () => {
    const path = buildGuardVolume(dir.path, 'over-label');
    craftOverLabelAndVtoc(path);
    const line = expectRefused(['put', path, 'A.DATA', hostFile, '--text'], path, /A\.DATA/);
    expect(line).toMatch(/extent 0 \(CC\/HH 0\/0-0\/6, tracks 0-6\)/);
    expect(line).toMatch(/track 0 \(IPL records and VOL1\)/);
    expect(line).toMatch(/the VTOC/);
    expect(runSnaptapeOk(['ls', path])).toMatch(/B\.DATA/);
  });

  it('an extent over another data set: put is refused and the other data set keeps its 128,000 bytes', () => {
    const path = buildGuardVolume(dir.path, 'overlap');
    craftOverlapOther(path);
    const line = expectRefused(['put', path, 'A.DATA', hostFile, '--text'], path, /A\.DATA/);
    expect(line).toMatch(/extent 0 \(CC\/HH 0\/2-0\/9, tracks 2-9\) overlaps data set B\.DATA extent 0 \(tracks 7-11\) on tracks 7-9/);
    const out = join(dir.path, 'b.out');
    runSnaptapeOk(['get', path, 'B.DATA', out]);
    expect(fileState(out).sizeBytes).toBe(128_000);
    expect(fileState(out).sha256).toBe(fileState(join(dir.path, 'b.want')).sha256);
  });

  it('put into the data set that is overlapped is refused too', () => {
    const path = buildGuardVolume(dir.path, 'overlapped');
    craftOverlapOther(path);
    expectRefused(
      ['put', path, 'B.DATA', hostFile, '--text'],
      path,
      /data set B\.DATA on .*: its extent 0 \(CC\/HH 0\/7-0\/11, tracks 7-11\) overlaps data set A\.DATA extent 0 \(tracks 2-9\) on tracks 7-9/,
    );
  });

  it('an extent past the volume end and a Format-3 chain that loops: typed errors, nothing written', () => {
    const past = buildGuardVolume(dir.path, 'past-end');
    craftPastEnd(past);
    expectRefused(['put', past, 'A.DATA', hostFile, '--text'], past, /A\.DATA.*outside the volume/);
    const loop = buildGuardVolume(dir.path, 'loop');
    craftChainLoop(loop);
    expectRefused(['put', loop, 'A.DATA', hostFile, '--text'], loop, /A\.DATA.*Format-3 chain longer than/);
  });

  it('a data set clear of the damage is still written', () => {
    const path = buildGuardVolume(dir.path, 'clear');
    craftOverlapOther(path);
    runSnaptapeOk(['alloc', path, 'C.DATA', '--tracks', '2', '--lrecl', '80', '--blksize', '800']);
    runSnaptapeOk(['put', path, 'C.DATA', hostFile, '--text']);
  });
});

describe('delete and restore through a corrupt VTOC', () => {
  it('delete of a data set over track 0 and the VTOC is refused', () => {
    const path = buildGuardVolume(dir.path, 'delete-over-label');
    craftOverLabelAndVtoc(path);
    expectRefused(['delete', path, 'A.DATA'], path, /Cannot delete data set A\.DATA.*extent 0.*overlaps track 0/);
  });

  it('delete of a data set that overlaps another is refused', () => {
    const path = buildGuardVolume(dir.path, 'delete-overlap');
    craftOverlapOther(path);
    expectRefused(['delete', path, 'B.DATA'], path, /Cannot delete data set B\.DATA.*overlaps data set A\.DATA/);
  });

  it('restore --replace of a data set whose extents cross track 0 and the VTOC is refused', () => {
    // A data-set restore goes through the target's VTOC (issue 18.1): it is allocated in free space,
    // or with --replace written into its namesake's extents, which must then be sound.
    const source = buildGuardVolume(dir.path, 'restore-source');
    const tape = join(dir.path, 'a.aws');
    runSnaptapeOk(['backup', source, '--to', tape, '--datasets', 'A.DATA']);
    const target = buildGuardVolume(dir.path, 'restore-target');
    craftOverLabelAndVtoc(target);
    expectRefused(['restore', tape, '--to', target, '--replace'], target, /Cannot restore data set A\.DATA.*extent 0.*overlaps track 0/);
  });
});

describe('clone extent mode from a corrupt VTOC', () => {
  it('a chosen data set over track 0 and the VTOC is refused before the session is made', async () => {
    const source = buildGuardVolume(dir.path, 'clone-source');
    craftOverLabelAndVtoc(source);
    const targetPath = join(dir.path, 'clone-target.ckd');
    createVolume(targetPath, { type: '3390', cylinders: 1, volser: 'CLONE1' }).close();
    const before = fileState(targetPath).sha256;
    const pool = new CopyPool(1);
    const from = openVolume(source);
    const to = openVolume(targetPath);
    try {
      expect(() => CloneSession.create(from, to, { pool, datasets: ['A.DATA'] })).toThrow(VtocError);
      expect(() => CloneSession.create(from, to, { pool, datasets: ['A.DATA'] })).toThrow(
        /^Cannot clone \(session .*\) data set A\.DATA on .*: its extent 0 .* overlaps track 0/,
      );
      expect(existsSync(cloneRecordPath(targetPath))).toBe(false);
    } finally {
      from.close();
      to.close();
      await pool.close();
    }
    expect(fileState(targetPath).sha256).toBe(before);
  });
});

describe('data set snapshot into a corrupt target', () => {
  it('a target data set whose extent covers track 0 and the VTOC is refused at define; the target unchanged', () => {
    const sub = join(dir.path, 'snap-sub');
    const source = join(sub, 'SRC');
    const target = join(sub, 'TGT');
    runSnaptapeOk(['subsystem', 'init', sub, '--type', '3390']);
    for (const [path, volser] of [
      [source, 'SRC001'],
      [target, 'TGT001'],
    ] as const) {
      runSnaptapeOk(['init', path, '--mapped', '--type', '3390', '--cyls', '1', '--volser', volser]);
      runSnaptapeOk(['alloc', path, 'A.DATA', '--tracks', '5']);
    }
    // Corrupt the target's Format-1 through snaptape's own DSCB writer: its extent now starts at 0/0.
    const volume = openVolume(target);
    let before: Buffer[];
    try {
      const entry = findDataset(readVtoc(volume), 'A.DATA');
      if (!entry) throw new Error('A.DATA is not on the target');
      const [first, ...rest] = entry.format1.extents;
      writeDscb(volume, entry.format1Address, encodeFormat1({ ...entry.format1, extents: [{ ...first!, begin: { cylinder: 0, head: 0 } }, ...rest] }));
      volume.sync();
      before = readAllSlots(volume);
    } finally {
      volume.close();
    }
    const line = expectRefusedStatus(['snapshot', 'define', source, target, '--datasets', 'A.DATA']);
    expect(line).toMatch(/Cannot snapshot into data set A\.DATA on .*TGT: its extent 0 \(CC\/HH 0\/0-0\/6, tracks 0-6\) overlaps track 0/);
    const after = openVolume(target, { readOnly: true });
    try {
      expect(readAllSlots(after)).toEqual(before);
    } finally {
      after.close();
    }
  });
});

describe('guardDatasetWrites on planned extents', () => {
  it('two extents of one planned data set that share a track are refused', () => {
    const volume = openVolume(buildGuardVolume(dir.path, 'plan-self'));
    try {
      const g = volume.ckd;
      const extents = [
        extentFromRun(g, { firstTrack: 12, trackCount: 2 }, 0, EXTENT_TYPE.data),
        extentFromRun(g, { firstTrack: 13, trackCount: 2 }, 1, EXTENT_TYPE.data),
      ];
      expect(() => guardDatasetWrites(volume, readVtoc(volume), [{ dsname: 'NEW.DATA', extents }], 'allocate')).toThrow(
        /Cannot allocate data set NEW\.DATA .*: its extent 0 \(CC\/HH 0\/12-0\/13, tracks 12-13\) overlaps data set NEW\.DATA extent 1 \(tracks 13-14\) on track 13/,
      );
      expect(() => guardDatasetWrites(volume, readVtoc(volume), [{ dsname: 'NEW.DATA', extents: extents.slice(0, 1) }], 'allocate')).not.toThrow();
    } finally {
      volume.close();
    }
  });

  it('on a volume without a VTOC (dasdinit) track 0 is still kept', () => {
    const path = join(dir.path, 'no-vtoc.ckd');
    runSnaptapeOk(['init', path, '--type', '3390', '--cyls', '1', '--volser', 'NOVTOC', '--no-vtoc']);
    const volume = openVolume(path, { readOnly: true });
    try {
      expect(() => guardDatasetWrites(volume, undefined, [writePlanOfTracks(volume.ckd, 'X.DATA', [1, 0, 2])], 'restore')).toThrow(
        /Cannot restore data set X\.DATA .*: its extent 0 \(CC\/HH 0\/0-0\/2, tracks 0-2\) overlaps track 0 \(IPL records and VOL1\)/,
      );
      expect(() => guardDatasetWrites(volume, undefined, [writePlanOfTracks(volume.ckd, 'X.DATA', [3, 4, 9])], 'restore')).not.toThrow();
    } finally {
      volume.close();
    }
  });
});
