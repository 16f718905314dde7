/**
 * Layer: interop with Hercules. An extent-mode clone RELOCATES a data set whose tracks are taken on
 * the destination: it keeps its place where that place is free there, else it goes to the first
 * free tracks (first fit), its tracks' record addresses (CCHH) rewritten for their new place and
 * its DSCBs written with the new extents at ACTIVATE. Hercules `dasdls` lists the clone's data sets
 * beside the destination's own, `dasdseq` extracts each as the source had it at ACTIVATE, and the
 * destination's own data set is untouched. No room, or a name clash, refuses the clone at CREATE
 * before anything is written.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { decodeTrack } from '../../src/ckd/track-codec.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { DatasetError, NoSpaceError } from '../../src/errors/snaptape-error.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { allocateDataset } from '../../src/vtoc/dataset-allocator.js';
import { parseRecfm } from '../../src/vtoc/dataset-attributes.js';
import { getDataset, putDataset } from '../../src/vtoc/dataset-io.js';
import { readVtoc } from '../../src/vtoc/vtoc-reader.js';
import type { Volume } from '../../src/volume/volume.js';
import { dasdlsInfo } from '../harness/dasd.js';
import { runSnaptapeJson } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, startServe } from '../server/helpers/serve-process.js';
import { dasdseq, expectCreateRefused, FB80, makeExtentSource, sleepMs, slotOf, stampedRecords, subDir } from './clone-fixtures.js';

let dir: TempDir;
let pool: CopyPool;

beforeAll(() => {
  dir = makeTempDir('snaptape-clone-relocate-');
  pool = new CopyPool(2);
});
afterEach(() => killAllServers());
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

function extentsOf(volume: Volume): Record<string, string[]> {
  return Object.fromEntries(
    readVtoc(volume).datasets.map((d) => [d.name, d.extents.map((e) => `${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}`)]),
  );
}

describe('an extent-mode clone relocates data sets whose tracks are taken on the destination', () => {
  it('moves A.FIRST to the first free tracks, keeps B.SECOND in place; dasdls lists both, dasdseq extracts each as at ACTIVATE', async () => {
    const where = subDir(dir.path, 'moved');
    const source = makeExtentSource(where);
    // OTHER holds tracks 2-5 of the destination: A.FIRST's place (2-4) is taken, B.SECOND's (7-10) free.
    const target = createVolume(join(where, 'dst.ckd'), { type: '3390', cylinders: 3, volser: 'DST001' });
    allocateDataset(target, { name: 'OTHER', tracks: 4, ...FB80 });
    const other = stampedRecords(150, 9);
    putDataset(target, 'OTHER', other);
    const atActivate = new Map<string, Buffer>();
    try {
      putDataset(source, 'A.FIRST', stampedRecords(50, 1));
      putDataset(source, 'B.SECOND', stampedRecords(120, 2));
      const session = CloneSession.create(source, target, { pool, precopy: true, datasets: ['A.FIRST', 'B.SECOND'] });
      // Bounded: 200 × 20 ms for a first pass of 7 tracks.
      for (let i = 0; i < 200 && session.status().tracksLeft > 0; i++) await sleepMs(20);
      // Host writes between CREATE and ACTIVATE: the precopy copies the rewritten tracks again.
      putDataset(source, 'A.FIRST', stampedRecords(90, 3));
      putDataset(source, 'B.SECOND', stampedRecords(100, 5));
      for (const name of ['A.FIRST', 'B.SECOND']) atActivate.set(name, getDataset(source, name));
      session.activate();
      expect(extentsOf(target)).toEqual({ OTHER: ['0/2-0/5'], 'A.FIRST': ['0/11-0/13'], 'B.SECOND': ['0/7-0/10'] });
      // Usable at once: get reads the relocated tracks, fetched on demand from their source tracks.
      expect(getDataset(target, 'A.FIRST').equals(atActivate.get('A.FIRST') as Buffer)).toBe(true);
      // Written after ACTIVATE: the source changes, the destination keeps the instant.
      putDataset(source, 'A.FIRST', stampedRecords(20, 4));
      putDataset(source, 'B.SECOND', stampedRecords(30, 6));
      await session.whenCopied();
      session.terminate();
      expect(getDataset(target, 'B.SECOND').equals(atActivate.get('B.SECOND') as Buffer)).toBe(true);
      expect(getDataset(target, 'OTHER').equals(other)).toBe(true);
      // The moved tracks name their new place: home address (decodeTrack checks it) and every
      // record id (CCHH); the 9 blocks and the EOF of A.FIRST are on its first track, 11.
      for (let t = 11; t <= 13; t++) {
        const track = decodeTrack(slotOf(target, t), { cylinder: 0, head: t }, { path: target.path, trackIndex: t });
        expect(track.records.length).toBe(t === 11 ? 10 : 0);
        expect(track.records.every((r) => r.cylinder === 0 && r.head === t)).toBe(true);
      }
    } finally {
      source.close();
      target.close();
    }
    const image = join(where, 'dst.ckd');
    const listing = dasdlsInfo(image, where);
    expect(listing.problems).toEqual([]);
    expect(listing.volser).toBe('DST001');
    expect(listing.rows.map((r) => [r.name, r.recfm, r.lrecl, r.blksize, r.tracks]).sort()).toEqual([
      ['A.FIRST', 'FB', 80, 800, 3],
      ['B.SECOND', 'FB', 80, 800, 4],
      ['OTHER', 'FB', 80, 800, 4],
    ]);
    for (const name of ['A.FIRST', 'B.SECOND']) expect(dasdseq(image, name, where).equals(atActivate.get(name) as Buffer), name).toBe(true);
    expect(dasdseq(image, 'OTHER', where).equals(other)).toBe(true);
  });

  it('a data set past the end of a smaller destination moves into its free space (ACTIVE COPY)', async () => {
    const where = subDir(dir.path, 'smaller');
    // A 3390 of 5 cylinders whose LATE.DS lies on cylinder 4; the destination has 2 cylinders.
    const source = createVolume(join(where, 'src.ckd'), { type: '3390', cylinders: 5, volser: 'SRC002' });
    allocateDataset(source, { name: 'FILLER', tracks: 58, ...FB80 });
    allocateDataset(source, { name: 'LATE.DS', tracks: 6, ...FB80 });
    const target = createVolume(join(where, 'dst.ckd'), { type: '3390', cylinders: 2, volser: 'DST004' });
    let content: Buffer;
    try {
      expect(extentsOf(source)['LATE.DS']).toEqual(['4/0-4/5']);
      content = stampedRecords(400, 7);
      putDataset(source, 'LATE.DS', content);
      const session = CloneSession.create(source, target, { pool, activate: true, datasets: ['LATE.DS'] });
      // Written after ACTIVATE: copied first to its moved track, so the destination keeps the instant.
      putDataset(source, 'LATE.DS', stampedRecords(10, 8));
      await session.whenCopied();
      session.terminate();
      expect(extentsOf(target)).toEqual({ 'LATE.DS': ['0/2-0/7'] });
      expect(getDataset(target, 'LATE.DS').equals(content)).toBe(true);
    } finally {
      source.close();
      target.close();
    }
    const image = join(where, 'dst.ckd');
    expect(dasdlsInfo(image, where).problems).toEqual([]);
    expect(dasdseq(image, 'LATE.DS', where).equals(content)).toBe(true);
  });

  it('a relocated ACTIVE COPY whose server was SIGKILLed resumes to the same places (clone resume)', async () => {
    const where = subDir(dir.path, 'resume');
    const HALF = { dsorg: 'PS', recfm: parseRecfm('FB'), recordLength: 80, blockSize: 27920 } as const;
    // BIG.DS (tracks 32-91) is moved: OTHER holds tracks 2-41 of the destination.
    const source = createVolume(join(where, 'rs.ckd'), { type: '3390', cylinders: 10, volser: 'SRC003' });
    const target = createVolume(join(where, 'rd.ckd'), { type: '3390', cylinders: 10, volser: 'DST005' });
    const content = stampedRecords(40_000, 11);
    const other = stampedRecords(500, 12);
    try {
      allocateDataset(source, { name: 'FILLER', tracks: 30, ...HALF });
      allocateDataset(source, { name: 'BIG.DS', tracks: 60, ...HALF });
      putDataset(source, 'BIG.DS', content);
      allocateDataset(target, { name: 'OTHER', tracks: 40, ...FB80 });
      putDataset(target, 'OTHER', other);
    } finally {
      source.close();
      target.close();
    }
    const socket = join(where, 'ctl.sock');
    const server = await startServe([source.path, target.path, '--control', socket]);
    const created = runSnaptapeJson<{ phase: string }>([
      'clone',
      'create',
      'rs',
      'rd',
      '--activate',
      '--datasets',
      'BIG.DS',
      '--throttle-mbps',
      '2',
      '--server',
      socket,
    ]);
    expect(created.phase).toBe('active');
    await sleepMs(300);
    await server.stop('SIGKILL');
    const stored = runSnaptapeJson<{ complete: boolean; phase: string }>(['clone', 'status', '--target', target.path]);
    expect(stored).toMatchObject({ complete: false, phase: 'active' });
    expect((JSON.parse(readFileSync(`${target.path}.clone.json`, 'utf8')) as { relocated: unknown }).relocated).toEqual([[32, 42, 60]]);
    const result = runSnaptapeJson<{ final: { phase: string } }>(['clone', 'resume', target.path]);
    expect(result.final.phase).toBe('terminated');
    const listing = dasdlsInfo(target.path, where);
    expect(listing.problems).toEqual([]);
    expect(listing.rows.map((r) => [r.name, r.tracks]).sort()).toEqual([
      ['BIG.DS', 60],
      ['OTHER', 40],
    ]);
    expect(dasdseq(target.path, 'BIG.DS', where).equals(content)).toBe(true);
    expect(dasdseq(target.path, 'OTHER', where).equals(other)).toBe(true);
  }, 60_000);

  it('no room, or a name clash, refuses the clone at CREATE, naming the data set and the destination; nothing is written', () => {
    const where = subDir(dir.path, 'refused');
    const source = makeExtentSource(where);
    // 43 tracks after track 0 and the VTOC: OTHER takes 38, leaving 5 for the 7 the clone needs.
    const full = createVolume(join(where, 'full.ckd'), { type: '3390', cylinders: 3, volser: 'DST002' });
    allocateDataset(full, { name: 'OTHER', tracks: 38, ...FB80 });
    const clash = createVolume(join(where, 'clash.ckd'), { type: '3390', cylinders: 3, volser: 'DST003' });
    allocateDataset(clash, { name: 'OTHER', tracks: 5, ...FB80 });
    allocateDataset(clash, { name: 'B.SECOND', tracks: 2, ...FB80 });
    try {
      for (const [target, error, message] of [
        [full, NoSpaceError, /Cannot clone data set B\.SECOND onto .*full\.ckd \(DST002\): it needs 4 tracks and 2 are free there/],
        [clash, DatasetError, /Cannot clone data set B\.SECOND onto .*clash\.ckd \(DST003\): a data set of that name is there/],
      ] as const) {
        expectCreateRefused(source, target, pool, ['A.FIRST', 'B.SECOND'], error, message);
      }
    } finally {
      source.close();
      full.close();
      clash.close();
    }
  });
});
