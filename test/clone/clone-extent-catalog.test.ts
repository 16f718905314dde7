/**
 * Layer: interop with Hercules. An extent-mode clone of two data sets writes their VTOC entries on
 * the destination at ACTIVATE: `get` (through the clone's fetch on demand) and `ls` find them,
 * Hercules `dasdls` lists them, and `dasdseq` extracts each with the content the source data set
 * had at ACTIVATE (written during the precopy before, and again after). A destination with a data
 * set of the same name elsewhere, or without room for the data sets, is refused at CREATE, before
 * anything is written.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { DatasetError, NoSpaceError } from '../../src/errors/snaptape-error.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { allocateDataset, deleteDataset } from '../../src/vtoc/dataset-allocator.js';
import { getDataset, putDataset } from '../../src/vtoc/dataset-io.js';
import { readVtoc } from '../../src/vtoc/vtoc-reader.js';
import type { Volume } from '../../src/volume/volume.js';
import { dasdlsInfo } from '../harness/dasd.js';
import { runSnaptapeJson, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { dasdseq, expectCreateRefused, FB80, makeExtentSource, sleepMs, stampedRecords, subDir } from './clone-fixtures.js';

let dir: TempDir;
let pool: CopyPool;

beforeAll(() => {
  dir = makeTempDir('snaptape-clone-extent-catalog-');
  pool = new CopyPool(2);
});
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

describe('an extent-mode clone catalogues its data sets on the destination', () => {
  it('after a clone of two data sets, dasdls lists them and dasdseq extracts each as it was at ACTIVATE', async () => {
    const where = subDir(dir.path, 'two');
    const source = makeExtentSource(where);
    const target = createVolume(join(where, 'dst.ckd'), { type: '3390', cylinders: 3, volser: 'DST001' });
    const atActivate = new Map<string, Buffer>();
    try {
      putDataset(source, 'A.FIRST', stampedRecords(50, 1));
      putDataset(source, 'B.SECOND', stampedRecords(120, 2));
      const session = CloneSession.create(source, target, { pool, precopy: true, datasets: ['A.FIRST', 'B.SECOND'] });
      // Bounded: 200 × 20 ms for a first pass of 7 tracks.
      for (let i = 0; i < 200 && session.status().tracksLeft > 0; i++) await sleepMs(20);
      // Written during the precopy: the copy and the catalogue must have these, not the first.
      putDataset(source, 'A.FIRST', stampedRecords(90, 3));
      for (const name of ['A.FIRST', 'B.SECOND']) atActivate.set(name, getDataset(source, name));
      session.activate();
      // The destination is usable at once: its VTOC lists them, and get fetches the tracks on demand.
      expect(readVtoc(target).datasets.map((d) => d.name)).toEqual(['A.FIRST', 'B.SECOND']);
      expect(getDataset(target, 'B.SECOND').equals(atActivate.get('B.SECOND') as Buffer)).toBe(true);
      // Written after ACTIVATE: the source changes, the destination keeps the instant.
      putDataset(source, 'B.SECOND', stampedRecords(30, 4));
      await session.whenCopied();
      session.terminate();
      expect(getDataset(target, 'A.FIRST').equals(atActivate.get('A.FIRST') as Buffer)).toBe(true);
      // Same extents as on the source; X.GAP was not cloned.
      const extentsOf = (v: Volume): Record<string, string[]> =>
        Object.fromEntries(
          readVtoc(v).datasets.map((d) => [d.name, d.extents.map((e) => `${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}`)]),
        );
      const sourceExtents = extentsOf(source);
      expect(extentsOf(target)).toEqual({ 'A.FIRST': sourceExtents['A.FIRST'], 'B.SECOND': sourceExtents['B.SECOND'] });
    } finally {
      source.close();
      target.close();
    }
    const image = join(where, 'dst.ckd');
    const listing = dasdlsInfo(image, where);
    expect(listing.problems).toEqual([]);
    expect(listing.volser).toBe('DST001');
    expect(listing.rows.map((r) => [r.name, r.recfm, r.lrecl, r.blksize, r.tracks])).toEqual([
      ['A.FIRST', 'FB', 80, 800, 3],
      ['B.SECOND', 'FB', 80, 800, 4],
    ]);
    for (const name of ['A.FIRST', 'B.SECOND']) expect(dasdseq(image, name, where).equals(atActivate.get(name) as Buffer), name).toBe(true);
    const ls = runSnaptapeJson<{ datasets: { name: string }[] }>(['ls', image, '--json']);
    expect(ls.datasets.map((d) => d.name)).toEqual(['A.FIRST', 'B.SECOND']);
  });

  it('clone run --datasets, then snaptape get on the destination reads each data set as on the source', () => {
    const where = subDir(dir.path, 'cli');
    const source = makeExtentSource(where);
    try {
      putDataset(source, 'A.FIRST', stampedRecords(40, 5));
      putDataset(source, 'B.SECOND', stampedRecords(70, 6));
    } finally {
      source.close();
    }
    createVolume(join(where, 'dst.ckd'), { type: '3390', cylinders: 3, volser: 'DST005' }).close();
    const [src, dst] = [join(where, 'src.ckd'), join(where, 'dst.ckd')];
    const run = runSnaptapeJson<{ final: { phase: string; datasets: string[] } }>(['clone', 'run', src, dst, '--datasets', 'A.FIRST', 'B.SECOND']);
    expect(run.final).toMatchObject({ phase: 'terminated', datasets: ['A.FIRST', 'B.SECOND'] });
    for (const name of ['A.FIRST', 'B.SECOND']) {
      runSnaptapeOk(['get', src, name, join(where, `${name}.src`)]);
      runSnaptapeOk(['get', dst, name, join(where, `${name}.dst`)]);
      expect(readFileSync(join(where, `${name}.dst`)).equals(readFileSync(join(where, `${name}.src`))), name).toBe(true);
    }
  });

  it('a data set that moved on the source since CREATE makes ACTIVATE refuse, with no VTOC entry written', () => {
    const where = subDir(dir.path, 'moved');
    const source = makeExtentSource(where);
    const target = createVolume(join(where, 'dst.ckd'), { type: '3390', cylinders: 3, volser: 'DST004' });
    try {
      const session = CloneSession.create(source, target, { pool, datasets: ['A.FIRST'] });
      deleteDataset(source, 'A.FIRST');
      allocateDataset(source, { name: 'A.FIRST', tracks: 5, ...FB80 });
      expect(() => session.activate()).toThrow(
        new RegExp(`Cannot activate clone session ${session.id}: data set A\\.FIRST on .*src\\.ckd has track 11, which it had not at CREATE`),
      );
      expect(session.phase).toBe('created');
      expect(readVtoc(target).datasets).toEqual([]);
      session.cancel();
    } finally {
      source.close();
      target.close();
    }
  });

  it('a name clash or no room on the destination refuse the clone at CREATE; nothing is written', () => {
    const where = subDir(dir.path, 'refused');
    const source = makeExtentSource(where);
    // A.FIRST elsewhere: a clash. Tracks 2-41 held by another data set: no room (3 tracks left).
    const clash = createVolume(join(where, 'clash.ckd'), { type: '3390', cylinders: 3, volser: 'DST002' });
    allocateDataset(clash, { name: 'OTHER', tracks: 5, ...FB80 });
    allocateDataset(clash, { name: 'A.FIRST', tracks: 1, ...FB80 });
    const full = createVolume(join(where, 'full.ckd'), { type: '3390', cylinders: 3, volser: 'DST003' });
    allocateDataset(full, { name: 'OTHER', tracks: 40, ...FB80 });
    try {
      for (const [target, error, message] of [
        [clash, DatasetError, /Cannot clone data set A\.FIRST onto .*clash\.ckd \(DST002\): a data set of that name is there, with other extents/],
        [full, NoSpaceError, /Cannot clone data set B\.SECOND onto .*full\.ckd \(DST003\): it needs 4 tracks and 0 are free there/],
      ] as const) {
        expectCreateRefused(source, target, pool, ['A.FIRST', 'B.SECOND'], error, message);
      }
    } finally {
      source.close();
      clash.close();
      full.close();
    }
  });
});
