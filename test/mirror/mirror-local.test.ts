/**
 * Layer: scenario. Mirror split and resync with a local secondary (an image in the same process),
 * driven through the library API, while seeded random host writes of every kind (format, update,
 * whole-track image, raw flat write) go on. Replay with SNAPTAPE_SEED=<seed printed>.
 *
 * - point in time: the split secondary, backed up to tape while writes go on, restores to the
 *   primary as it was at the split instant (a reference copy taken in the same synchronous stretch);
 * - counted resync: rejoin copies exactly the tracks written since the split;
 * - writes during the resync: every invalid track is made valid by exactly one of the copy and
 *   normal mirroring (copied + sentByWrites = total), and at the end primary and secondary are
 *   byte-identical (cmp).
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { compareImages } from '../../src/api/drill-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { CYLINDERS, Prng, filesIdentical, makeBlankSecondary, seedFromEnv, startWriter } from './mirror-fixtures.js';

let pool: CopyPool;
beforeAll(() => {
  pool = new CopyPool(2);
});
afterAll(async () => {
  await pool.close();
});

describe('mirror with a local secondary', () => {
  it('backs up the split mirror as the primary was at the split instant, then resyncs exactly the changed tracks', async () => {
    const seed = seedFromEnv('mirror point-in-time');
    const prng = new Prng(seed);
    const dir = makeTempDir('snaptape-mirror-');
    try {
      const primary = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed });
      const secondaryPath = makeBlankSecondary(dir.path, 'secondary.ckd');
      const mirror = MirrorSession.create(primary, [secondaryPath]);
      expect(mirror.status().mirrors[0]?.state).toBe('COPY');
      const during = startWriter(primary, prng, { maxWrites: 200 });
      await mirror.whenInSync();
      await during.stop();
      primary.sync();
      expect(compareImages(primary.path, secondaryPath).mismatched).toBe(0);

      // The split instant: the reference copy and the split in one synchronous stretch.
      const reference = join(dir.path, 'reference.ckd');
      copyFileSync(primary.path, reference);
      const [split] = mirror.split('M2');
      expect(split?.state).toBe('BACKUP');
      expect(split?.inSync).toBe(false);

      const secondary = openVolume(secondaryPath);
      const tape = join(dir.path, 'split.aws');
      const backup = TapeBackupSession.start(secondary, { tapePath: tape, pool, pauseAfter: 4, pauseMs: 2 });
      const writer = startWriter(primary, prng, { maxWrites: 400 });
      await backup.done;
      await writer.stop();
      secondary.close();
      expect(writer.writes()).toBeGreaterThan(0);

      const restored = join(dir.path, 'restored.ckd');
      restoreTape(tape, { to: restored, newVolume: true });
      expect(compareImages(reference, restored).mismatched).toBe(0);

      const changed = writer.tracks.size;
      expect(mirror.status().mirrors[0]?.invalidTracks).toBe(changed);
      mirror.rejoin('M2');
      await mirror.whenInSync();
      const resync = mirror.status().mirrors[0]?.resync;
      expect(resync?.total).toBe(changed);
      expect(resync?.copied).toBe(changed);
      primary.sync();
      expect(filesIdentical(primary.path, secondaryPath)).toBe(true);
      await mirror.remove();
      primary.close();
    } finally {
      dir.cleanup();
    }
  });

  it('keeps writing during the resync and ends byte-identical on two secondaries', async () => {
    const seed = seedFromEnv('mirror resync-with-writes');
    const prng = new Prng(seed);
    const dir = makeTempDir('snaptape-mirror-');
    try {
      const primary = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed });
      const second = makeBlankSecondary(dir.path, 'm2.ckd');
      const third = makeBlankSecondary(dir.path, 'm3.ckd');
      const mirror = MirrorSession.create(primary, [second, third]);
      await mirror.whenInSync();
      mirror.split();
      const behind = startWriter(primary, prng, { maxWrites: 150 });
      await behind.finish();
      const changed = behind.tracks.size;
      for (const m of mirror.status().mirrors) expect(m.invalidTracks).toBe(changed);

      mirror.rejoin();
      expect(mirror.status().mirrors.every((m) => m.state === 'BACKUP RETURN')).toBe(true);
      const during = startWriter(primary, prng, { maxWrites: 300 });
      await mirror.whenInSync();
      await during.stop();
      expect(during.writes()).toBeGreaterThan(0);
      for (const m of mirror.status().mirrors) {
        console.log(`${m.mirror}: ${m.resync?.copied ?? 0} copied by the resync, ${m.resync?.sentByWrites ?? 0} sent by writes during it, of ${changed}`);
        expect(m.state).toBe('ONGOING');
        expect((m.resync?.copied ?? 0) + (m.resync?.sentByWrites ?? 0)).toBe(changed);
      }
      primary.sync();
      expect(filesIdentical(primary.path, second)).toBe(true);
      expect(filesIdentical(primary.path, third)).toBe(true);
      await mirror.remove();
      primary.close();
    } finally {
      dir.cleanup();
    }
  });
});
