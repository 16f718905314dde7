/**
 * Layer: scenario. Issue 20, protected secondaries: each way a local secondary can be written.
 * - another process, while the mirror is not split: refused with a clear error (the lock while the
 *   mirror holds the image, the secondary's role file while it does not: after a detach);
 * - a write to the split secondary: recorded on the secondary's side, resent by the rejoin, so that
 *   status says in sync only when compare says identical.
 */
import { describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { compareImages } from '../../src/api/drill-api.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { filesIdentical, makeBlankSecondary } from './mirror-fixtures.js';

const CYLS = 3;

describe('a protected local secondary', () => {
  it('refuses a write by another process while the mirror is not split, held or detached', async () => {
    const dir = makeTempDir('snaptape-mirror-protect-');
    try {
      const primary = makeFilledVolume(dir.path, { cylinders: CYLS, seed: 21 });
      const secondaryPath = makeBlankSecondary(dir.path, 'sec.ckd', CYLS);
      const mirror = MirrorSession.create(primary, [secondaryPath]);
      await mirror.whenInSync();
      primary.sync();

      const held = runSnaptape(['fill', secondaryPath, '--seed', '9', '--percent', '50']);
      expect(held.status).not.toBe(0);
      expect(held.stderr).toMatch(/locked|secondary of a mirror/);

      // Server shutdown: the links close and the image lock goes, but the secondary stays protected.
      await mirror.detach();
      const detached = runSnaptape(['fill', secondaryPath, '--seed', '9', '--percent', '50']);
      expect(detached.stderr).toMatch(/secondary of a mirror that is not split/);
      expect(detached.status).not.toBe(0);
      expect(filesIdentical(primary.path, secondaryPath)).toBe(true);
      primary.close();
    } finally {
      dir.cleanup();
    }
  });

  it('resends the tracks written on the split secondary at rejoin: in sync only when identical', async () => {
    const dir = makeTempDir('snaptape-mirror-protect-');
    try {
      const primary = makeFilledVolume(dir.path, { cylinders: CYLS, seed: 22 });
      const secondaryPath = makeBlankSecondary(dir.path, 'sec.ckd', CYLS);
      const mirror = MirrorSession.create(primary, [secondaryPath]);
      await mirror.whenInSync();
      mirror.split('M2');

      // A backup writes labels, a test changes data: two tracks the primary never wrote.
      const secondary = openVolume(secondaryPath);
      const slot = secondary.backend.slotBytes;
      secondary.writeFlat(17 * slot + 100, Buffer.alloc(300, 0x5a));
      secondary.writeFlat(31 * slot + 8, Buffer.alloc(64, 0xa5));
      secondary.close();
      primary.writeFlat(5 * slot + 200, Buffer.alloc(100, 0x11));

      expect(mirror.status().mirrors[0]?.inSync).toBe(false);
      mirror.rejoin('M2');
      await mirror.whenInSync();
      expect(mirror.status().mirrors[0]?.resync?.total).toBe(3);
      primary.sync();
      expect(compareImages(primary.path, secondaryPath).mismatched).toBe(0);
      expect(filesIdentical(primary.path, secondaryPath)).toBe(true);

      // Rejoined: protected again.
      const again = runSnaptape(['fill', secondaryPath, '--seed', '3', '--percent', '50']);
      expect(again.status).not.toBe(0);
      await mirror.remove();
      primary.close();
    } finally {
      dir.cleanup();
    }
  });
});
