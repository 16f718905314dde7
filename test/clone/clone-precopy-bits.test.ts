/**
 * Layer: the PRECOPY protection bit after ACTIVATE (FIG 8, step 165 of the clone's patent): a track
 * copied after ACTIVATE has its PRECOPY PB cleared, so the PRECOPY PB count says how many tracks
 * the destination holds from the precopy, live and in the record beside the destination. The hard
 * case is a precopy pass still running at ACTIVATE (paced here, so it is): the tracks it copies
 * after ACTIVATE are copies made after ACTIVATE.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { readCloneStatus } from '../../src/api/clone-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { makeFilledVolume, makeTarget, sleepMs } from './clone-fixtures.js';

let dir: TempDir;
let pool: CopyPool;

beforeAll(() => {
  dir = makeTempDir('snaptape-clone-precopy-bits-');
  pool = new CopyPool(2);
});
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

describe('PRECOPY PB after ACTIVATE', () => {
  it('a track copied after ACTIVATE, even by a precopy pass in flight, no longer counts as precopied', async () => {
    const where = join(dir.path, 'inflight');
    mkdirSync(where, { recursive: true });
    const source = makeFilledVolume(where, { cylinders: 4, seed: 0x165 });
    const target = makeTarget(where, 'target.ckd', { cylinders: 4 });
    const tracks = source.ckd.trackCount;
    try {
      // Paced: a pause of 40 ms after every 3 tracks, so the first pass takes about 0.8 s.
      const session = CloneSession.create(source, target, { pool, precopy: true, pauseAfter: 3, pauseMs: 40 });
      // Bounded: 400 × 5 ms; the first batches land within the first pause or two.
      for (let i = 0; i < 400 && session.status().tracksLeft === tracks; i++) await sleepMs(5);
      session.activate();
      const atActivate = session.status();
      // The pass is in flight: some tracks were precopied, others are still to copy.
      expect(atActivate.precopied).toBeGreaterThan(0);
      expect(atActivate.tracksLeft).toBeGreaterThan(0);
      // The workers go on between activate() and status(): what they copy meanwhile is after ACTIVATE.
      expect(atActivate.precopied + atActivate.tracksLeft).toBeLessThanOrEqual(tracks);
      await session.whenCopied();
      const copied = session.status();
      // Only the tracks precopied before ACTIVATE keep PRECOPY PB; the rest were copied after it.
      expect(copied.tracksLeft).toBe(0);
      expect(copied.precopied).toBe(atActivate.precopied);
      expect(copied.pbConflicts).toBe(0);
      session.terminate();
      expect(readCloneStatus(target.path).precopiedAtCheckpoint).toBe(atActivate.precopied);
    } finally {
      source.close();
      target.close();
    }
    expect(compareImages(source.path, target.path).mismatched).toBe(0);
  });
});
