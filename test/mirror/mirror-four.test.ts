/**
 * Layer: scenario. Issue 20, all four mirrors: a primary (M1) with three local secondaries. M2 is
 * split and written on both sides while host writes go on; M3 and M4 stay live and compare
 * identical to the primary after every burst of writes; then M2 alone is rejoined, and M3 and M4
 * never leave ONGOING. Replay with SNAPTAPE_SEED=<seed printed>.
 */
import { describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { compareImages } from '../../src/api/drill-api.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { Prng, makeBlankSecondary, randomHostWriteOf, seedFromEnv } from './mirror-fixtures.js';

const CYLS = 3;
const BURSTS = 8;

describe('four mirrors', () => {
  it('splits M2 while M3 and M4 stay live and identical, then rejoins M2 alone', async () => {
    const seed = seedFromEnv('mirror four');
    const prng = new Prng(seed);
    const dir = makeTempDir('snaptape-mirror-four-');
    try {
      const primary = makeFilledVolume(dir.path, { cylinders: CYLS, seed });
      const [m2, m3, m4] = ['m2.ckd', 'm3.ckd', 'm4.ckd'].map((n) => makeBlankSecondary(dir.path, n, CYLS)) as [string, string, string];
      const mirror = MirrorSession.create(primary, [m2, m3, m4]);
      await mirror.whenInSync();
      const [split] = mirror.split('M2');
      expect(split?.state).toBe('BACKUP');

      for (let burst = 0; burst < BURSTS; burst++) {
        for (let w = 0; w < 20; w++) randomHostWriteOf(primary, prng);
        // The split secondary is written too (say, a backup writing labels).
        const secondary = openVolume(m2);
        randomHostWriteOf(secondary, prng);
        secondary.close();
        await new Promise((resolve) => setImmediate(resolve));
        primary.sync();
        const [s2, s3, s4] = mirror.status().mirrors;
        expect([s2?.state, s3?.state, s4?.state]).toEqual(['BACKUP', 'ONGOING', 'ONGOING']);
        expect(s3?.inSync && s4?.inSync).toBe(true);
        expect(compareImages(primary.path, m3).mismatched).toBe(0);
        expect(compareImages(primary.path, m4).mismatched).toBe(0);
      }
      expect(compareImages(primary.path, m2).mismatched).toBeGreaterThan(0);

      mirror.rejoin('M2');
      const states = mirror.status().mirrors.map((m) => m.state);
      expect(states).toEqual(['BACKUP RETURN', 'ONGOING', 'ONGOING']);
      await mirror.whenInSync({ mirror: 'M2' });
      primary.sync();
      for (const path of [m2, m3, m4]) expect(compareImages(primary.path, path).mismatched).toBe(0);
      expect(mirror.status().mirrors.every((m) => m.inSync)).toBe(true);
      await mirror.remove();
      primary.close();
    } finally {
      dir.cleanup();
    }
  });
});
