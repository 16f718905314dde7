/**
 * Layer: scenarios with seeded random host writes (seeds printed). Eight concurrent sessions from
 * one source to eight destinations, each activated at its own instant with its own reference, all
 * correct; extent mode copies only the chosen data sets' tracks; a precopy leaves about the hot set
 * to copy at ACTIVATE (counts, never timings); the persisted record and bitmap say incomplete until
 * every track is copied.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { createVolume } from '../../src/api/volume-api.js';
import { readCloneStatus } from '../../src/api/clone-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { readVtoc } from '../../src/vtoc/vtoc-reader.js';
import { datasetTrackIndexes } from '../../src/vtoc/dataset-tracks.js';
import { cloneBitmapPath, countCloneBitmap, decodeCloneBitmap, encodeCloneBitmap } from '../../src/techniques/clone/clone-record.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { makeFilledVolume, makeTarget, Prng, randomHostWrite, sleepMs, slotOf, yieldTimes } from './clone-fixtures.js';

let pool: CopyPool;
let dir: TempDir;
const SEED = Number(process.env['SNAPTAPE_SEED'] ?? 0xc10e);

beforeAll(() => {
  pool = new CopyPool(2);
  dir = makeTempDir('snaptape-clone-sessions-');
  console.log(`clone sessions: SNAPTAPE_SEED=${SEED}`);
});
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

function sub(name: string): string {
  const path = join(dir.path, name);
  mkdirSync(path, { recursive: true });
  return path;
}

describe('clone sessions', () => {
  it('8 concurrent sessions from one source to 8 destinations are all correct', async () => {
    const where = sub('eight');
    const prng = new Prng(SEED);
    const source = makeFilledVolume(where, { cylinders: 3, seed: SEED });
    const targets = Array.from({ length: 8 }, (_, i) => makeTarget(where, `t${i}.ckd`, { cylinders: 3 }));
    const tracks = source.ckd.trackCount;
    try {
      // Half precopy, a quarter plain CREATE, a quarter ACTIVE COPY (its reference is taken at CREATE).
      const sessions = targets.map((target, i) => {
        if (i % 4 === 3) copyFileSync(source.path, join(where, `ref${i}.ckd`));
        return CloneSession.create(source, target, { pool, precopy: i % 2 === 0, activate: i % 4 === 3 });
      });
      const order = [0, 1, 2, 4, 5, 6].sort(() => prng.below(3) - 1);
      for (const i of order) {
        for (let w = 0; w < 15; w++) {
          randomHostWrite(source, prng.below(tracks), prng);
          if (prng.below(2) === 0) await yieldTimes(2);
        }
        copyFileSync(source.path, join(where, `ref${i}.ckd`));
        sessions[i]?.activate();
      }
      for (let w = 0; w < 40; w++) {
        randomHostWrite(source, prng.below(tracks), prng);
        // Reads of every destination see its own point in time (checked at the end by file compare).
        const t = targets[prng.below(8)];
        if (t) slotOf(t, prng.below(tracks));
        await yieldTimes(1);
      }
      await Promise.all(sessions.map((s) => s.whenCopied()));
      for (const s of sessions) {
        expect(s.status().pbConflicts).toBe(0);
        s.terminate();
      }
      expect(source.interceptorNames()).toEqual([]);
      targets.forEach((t, i) => {
        t.close();
        const comparison = compareImages(join(where, `ref${i}.ckd`), t.path);
        expect(comparison.mismatched, `destination ${i} (seed ${SEED})`).toBe(0);
      });
    } finally {
      source.close();
      for (const t of targets) t.close();
    }
  });

  it('extent mode copies only the chosen data sets, the rest of the destination keeps its own data', async () => {
    const where = sub('extent');
    const source = makeFilledVolume(where, { cylinders: 3, seed: SEED + 1 });
    const target = makeFilledVolume(where, { cylinders: 3, seed: SEED + 2, name: 'target.ckd' });
    try {
      const chosen = readVtoc(source).datasets.find((d) => d.name === 'PROD.PAYROLL.DATA');
      if (!chosen) throw new Error('the fixture has PROD.PAYROLL.DATA');
      const inExtent = new Set(datasetTrackIndexes(source.ckd, chosen));
      const before = Array.from({ length: source.ckd.trackCount }, (_, t) => slotOf(target, t));
      const session = CloneSession.create(source, target, { pool, precopy: true, datasets: ['PROD.PAYROLL.*'] });
      expect(session.status().tracksTotal).toBe(inExtent.size);
      expect(session.status().datasets).toEqual(['PROD.PAYROLL.DATA']);
      // A track outside the extents is not part of the clone: the destination serves it at once.
      const outside = [...Array(source.ckd.trackCount).keys()].find((t) => !inExtent.has(t)) ?? 0;
      expect(slotOf(target, outside).equals(before[outside] as Buffer)).toBe(true);
      session.activate();
      await session.whenCopied();
      session.terminate();
      for (let t = 0; t < source.ckd.trackCount; t++) {
        const expected = inExtent.has(t) ? slotOf(source, t) : (before[t] as Buffer);
        expect(slotOf(target, t).equals(expected), `track ${t}`).toBe(true);
      }
    } finally {
      source.close();
      target.close();
    }
  });

  it('after a precopy, the tracks left at ACTIVATE are about the hot set, and rewritten tracks were re-copied', async () => {
    const where = sub('hot');
    const prng = new Prng(SEED + 3);
    const source = makeFilledVolume(where, { cylinders: 10, seed: SEED + 3 });
    const target = makeTarget(where, 'target.ckd', { cylinders: 10 });
    const tracks = source.ckd.trackCount;
    const hot = Array.from({ length: tracks / 10 }, (_, i) => i * 10 + 3);
    try {
      const session = CloneSession.create(source, target, { pool, precopy: true });
      // Bounded: the first passes copy 150 tracks in well under the 200 × 20 ms allowed.
      for (let i = 0; i < 200 && session.status().tracksLeft > 0; i++) await sleepMs(20);
      expect(session.status().tracksLeft).toBe(0);
      expect(session.status().precopied).toBe(tracks);
      for (const t of hot) randomHostWrite(source, t, prng);
      const atActivate = session.status();
      session.activate();
      expect(atActivate.tracksLeft).toBeLessThanOrEqual(hot.length);
      expect(atActivate.tracksLeft + atActivate.precopied).toBe(tracks);
      expect(atActivate.recopies).toBe(hot.length);
      await session.whenCopied();
      const final = session.status();
      expect(final.tracksLeft).toBe(0);
      expect(final.indirect).toBe(0);
      session.terminate();
      for (const t of hot) expect(slotOf(target, t).equals(slotOf(source, t))).toBe(true);
    } finally {
      source.close();
      target.close();
    }
  });

  it('the record says incomplete until every track is copied; the bitmap round-trips', async () => {
    const where = sub('record');
    const source = makeFilledVolume(where, { cylinders: 2, seed: SEED + 4 });
    const target = makeTarget(where, 'target.ckd', { cylinders: 2 });
    try {
      const session = CloneSession.create(source, target, { pool });
      let stored = readCloneStatus(target.path);
      expect(stored).toMatchObject({
        phase: 'created',
        op: 'CREATE',
        opStatus: 'complete',
        complete: false,
        unfinished: true,
        tracksLeft: 30,
        indirectAtCheckpoint: 30,
      });
      session.activate();
      stored = readCloneStatus(target.path);
      expect(stored).toMatchObject({ phase: 'active', op: 'ACTIVATE', opStatus: 'in-progress', complete: false, flags: { precopy: false, active: true } });
      await session.whenCopied();
      session.terminate();
      stored = readCloneStatus(target.path);
      expect(stored).toMatchObject({ phase: 'terminated', op: 'TERMINATE', opStatus: 'complete', complete: true, unfinished: false, tracksLeft: 0 });
    } finally {
      source.close();
      target.close();
    }
    const words = [Int32Array.of(0b101, 0), Int32Array.of(0, -1), Int32Array.of(1, 1 << 31), Int32Array.of(-1, 0xff)];
    const decoded = decodeCloneBitmap(encodeCloneBitmap(40, 'active', words), 'memory');
    expect(decoded.phase).toBe('active');
    expect([decoded.test(0, 0), decoded.test(0, 1), decoded.test(0, 2), decoded.test(1, 39), decoded.test(2, 0)]).toEqual([true, false, true, true, true]);
    expect(Array.from({ length: 40 }, (_, u) => decoded.test(0, u)).filter(Boolean)).toHaveLength(2);
    // clone status counts the file a chunk at a time: the bits past the 40th unit are not counted.
    const counted = join(sub('counted'), 'x.ckd');
    writeFileSync(cloneBitmapPath(counted), encodeCloneBitmap(40, 'active', words));
    expect(countCloneBitmap(counted)?.counts).toEqual([2, 8, 1, 40]);
  });

  it('an FBA volume clones block by block, and a CCKD source (no file offsets) is copied on the owning thread', async () => {
    const where = sub('kinds');
    const prng = new Prng(SEED + 5);
    const fbaSource = createVolume(join(where, 'src.fba'), { type: 'fba', blocks: 2048, volser: 'FBA001' });
    const fbaTarget = createVolume(join(where, 'dst.fba'), { type: 'fba', blocks: 2048, volser: 'FBA002' });
    const ckdSource = makeFilledVolume(where, { cylinders: 2, seed: SEED + 5, name: 'plain.ckd' });
    const cckdSource = createVolume(join(where, 'real.cckd'), { type: '3390', cylinders: 2, volser: 'CCKD01', format: 'cckd' });
    const ckdTarget = makeTarget(where, 'dst.ckd', { cylinders: 2 });
    try {
      for (let b = 0; b < 2048; b += 97) fbaSource.writeBlocks(b, Buffer.alloc(512, 1 + (b % 200)));
      copyFileSync(fbaSource.path, join(where, 'ref.fba'));
      const fba = CloneSession.create(fbaSource, fbaTarget, { pool, activate: true });
      for (let i = 0; i < 50; i++) {
        fbaSource.writeBlocks(prng.below(2048), Buffer.alloc(512, 0xee));
        await yieldTimes(1);
      }
      await fba.whenCopied();
      fba.terminate();
      for (let t = 0; t < ckdSource.ckd.trackCount; t++) cckdSource.writeTrackImages(t, [ckdSource.readTrackImage(t)]);
      const fromCckd = CloneSession.create(cckdSource, ckdTarget, { pool, precopy: true });
      await sleepMs(30);
      // The ACTIVATE instant: the reference is the source's slots read in the same synchronous stretch.
      const reference = Array.from({ length: cckdSource.ckd.trackCount }, (_, t) => slotOf(cckdSource, t));
      fromCckd.activate();
      for (let i = 0; i < 20; i++) randomHostWrite(cckdSource, prng.below(30), prng);
      await fromCckd.whenCopied();
      fromCckd.terminate();
      reference.forEach((slot, t) => expect(slotOf(ckdTarget, t).equals(slot), `CCKD track ${t}`).toBe(true));
      fbaTarget.close();
      expect(compareImages(join(where, 'ref.fba'), fbaTarget.path).mismatched).toBe(0);
      expect(fromCckd.status().copiedInBackground + fromCckd.status().copiedOnDemand).toBeGreaterThanOrEqual(30);
    } finally {
      for (const v of [fbaSource, fbaTarget, ckdSource, cckdSource, ckdTarget]) v.close();
    }
  });

  it('a tape backup of the destination right after ACTIVATE reads fetched tracks (reads through volume.backend honour IND)', async () => {
    const where = sub('backup');
    const source = makeFilledVolume(where, { cylinders: 3, seed: SEED + 6 });
    const target = makeTarget(where, 'target.ckd', { cylinders: 3 });
    const reference = join(where, 'reference.ckd');
    try {
      const session = CloneSession.create(source, target, { pool, throttleMbps: 0.2, workers: 1 });
      copyFileSync(source.path, reference);
      session.activate();
      const backup = TapeBackupSession.start(target, { tapePath: join(where, 'dst.aws'), pool, creationDate: '126001' });
      await backup.done;
      expect(session.status().copiedOnDemand).toBeGreaterThan(0);
      session.cancel();
    } finally {
      source.close();
      target.close();
    }
    restoreTape(join(where, 'dst.aws'), { to: join(where, 'restored.ckd'), newVolume: true });
    expect(compareImages(reference, join(where, 'restored.ckd')).mismatched).toBe(0);
  });
});
