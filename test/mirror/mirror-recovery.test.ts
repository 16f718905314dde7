/**
 * Layer: scenario with injected faults, local secondary, library API. Replay with SNAPTAPE_SEED.
 * - an impossible status byte (M1 cleared on one track of the state file, as a torn or corrupted
 *   file could leave it) is reported as an error for that track at rejoin and the track is not
 *   copied; the mirror does not claim to be in sync;
 * - resume after a detach (clean) keeps exactly the split's invalid tracks; resume without one
 *   (the process died while ONGOING) marks every track invalid and resyncs them all;
 * - a remote mirror rejoined while its link is down (nothing listens at its address) waits in
 *   SUSPENDED: a host write marks its track invalid and is not "sent" to no connection, so nothing
 *   fails and the resync does not start over once the link is up (mirror-crash.test.ts found it).
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/api/volume-api.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { MirrorStateFile, mirrorFilePath } from '../../src/techniques/mirror/mirror-state-file.js';
import { TrackStatusTable } from '../../src/techniques/mirror/track-status-table.js';
import { MIRROR_BITMAP_OFFSET, MIRROR_DESCRIPTOR_LAYOUT, MIRROR_HEADER_LAYOUT, descriptorOffset } from '../../src/techniques/mirror/mirror-state-layout.js';
import { LINK_STATE_CODES } from '../../src/techniques/mirror/mirror-link-state.js';
import { field } from '../../src/base/field-table.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { CYLINDERS, Prng, filesIdentical, makeBlankSecondary, seedFromEnv, startWriter } from './mirror-fixtures.js';
import type { Volume } from '../../src/volume/volume.js';
import type { MirrorStatus } from '../../src/techniques/mirror/mirror-types.js';

async function until(test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Bounded by the deadline.
  while (!test()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A loopback port nothing listens on (taken from the kernel, then released). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** A raw host write of 512 bytes into track 0 of cylinder 1 (past the VTOC); the first mirror's status after it. */
function writeFirstTrackOfCylinderOne(primary: Volume, mirror: MirrorSession, fill: number): { track: number; m: MirrorStatus | undefined } {
  const track = primary.ckd.heads;
  primary.writeFlat(track * primary.backend.slotBytes + 100, Buffer.alloc(512, fill));
  return { track, m: mirror.status().mirrors[0] };
}

describe('mirror recovery', () => {
  it('reports an impossible bit pattern for its track and does not copy it', async () => {
    const seed = seedFromEnv('mirror impossible-pattern');
    const prng = new Prng(seed);
    const dir = makeTempDir('snaptape-mirror-');
    try {
      const primary = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed });
      const secondaryPath = makeBlankSecondary(dir.path, 'secondary.ckd');
      const first = MirrorSession.create(primary, [secondaryPath]);
      await first.whenInSync();
      first.split();
      const writer = startWriter(primary, prng, { maxWrites: 60 });
      await writer.finish();
      expect(writer.tracks.size).toBeGreaterThan(1);
      await first.detach();
      primary.close();
      const [bad] = [...writer.tracks].sort((a, b) => a - b);
      const fd = openSync(mirrorFilePath(primary.path), 'r+');
      writeSync(fd, Buffer.from([0x00]), 0, 1, MIRROR_BITMAP_OFFSET + (bad as number));
      closeSync(fd);

      const reopened = openVolume(primary.path);
      const mirror = MirrorSession.resume(reopened);
      expect(mirror.status().recoveredUnclean).toBe(false);
      expect(mirror.status().mirrors[0]?.state).toBe('BACKUP');
      expect(mirror.status().mirrors[0]?.invalidTracks).toBe(writer.tracks.size);
      mirror.rejoin();
      await until(() => mirror.status().mirrors[0]?.resync?.finishedAt !== null);
      const m = mirror.status().mirrors[0];
      expect(m?.state).toBe('BACKUP RETURN');
      expect(m?.inSync).toBe(false);
      expect(m?.trackErrors.map((e) => e.track)).toEqual([bad]);
      expect(m?.trackErrors[0]?.reason).toMatch(/Cannot copy track \d+ .*M1 \(the primary\) invalid/);
      expect(m?.resync?.copied).toBe(writer.tracks.size - 1);
      reopened.sync();
      const comparison = compareImages(reopened.path, secondaryPath);
      expect(comparison.mismatched).toBe(1);
      expect(comparison.firstMismatch).toBe(bad);
      await mirror.remove();
      reopened.close();
    } finally {
      dir.cleanup();
    }
  });

  it('after an unclean stop while ONGOING trusts no bit and resyncs every track', async () => {
    const seed = seedFromEnv('mirror unclean-resume');
    const prng = new Prng(seed);
    const dir = makeTempDir('snaptape-mirror-');
    try {
      const primary = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed });
      const secondaryPath = makeBlankSecondary(dir.path, 'secondary.ckd');
      const first = MirrorSession.create(primary, [secondaryPath]);
      await first.whenInSync();
      const writer = startWriter(primary, prng, { maxWrites: 40 });
      await writer.finish();
      await first.detach();
      primary.close();
      // The file as a crash while ONGOING leaves it: state ONGOING, CLEAN flag off.
      const fd = openSync(mirrorFilePath(primary.path), 'r+');
      writeSync(fd, Buffer.from([0]), 0, 1, field(MIRROR_HEADER_LAYOUT, 'flags').offset);
      writeSync(fd, Buffer.from([LINK_STATE_CODES.ONGOING]), 0, 1, descriptorOffset(0) + field(MIRROR_DESCRIPTOR_LAYOUT, 'linkState').offset);
      closeSync(fd);
      const reopened = openVolume(primary.path);
      const mirror = MirrorSession.resume(reopened);
      expect(mirror.status().recoveredUnclean).toBe(true);
      expect(mirror.status().mirrors[0]?.invalidTracks).toBe(reopened.unitCount);
      await mirror.whenInSync();
      expect(mirror.status().mirrors[0]?.resync?.total).toBe(reopened.unitCount);
      reopened.sync();
      expect(filesIdentical(reopened.path, secondaryPath)).toBe(true);
      await mirror.remove();
      reopened.close();
    } finally {
      dir.cleanup();
    }
  });

  it('rejoins a remote mirror whose link is down as SUSPENDED: a host write marks its track and nothing fails', async () => {
    const dir = makeTempDir('snaptape-mirror-');
    try {
      const primary = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed: 7 });
      const target = `127.0.0.1:${await unusedPort()}/sec`;
      // The state a primary restarted while split leaves: BACKUP, every track valid, the link not up.
      const table = TrackStatusTable.primaryOnly(primary.unitCount);
      for (let u = 0; u < primary.unitCount; u++) table.setValid(u, 2);
      MirrorStateFile.create(mirrorFilePath(primary.path), {
        slotBytes: primary.backend.slotBytes,
        mirrors: [{ kind: 'remote', target, linkState: 'BACKUP', splitCount: 1 }],
        table,
      }).close();
      const mirror = MirrorSession.resume(primary, { linkTimeoutMs: 200 });
      expect(mirror.status().mirrors[0]?.state).toBe('BACKUP');
      const [rejoined] = mirror.rejoin();
      expect(rejoined?.state).toBe('SUSPENDED');
      const { m } = writeFirstTrackOfCylinderOne(primary, mirror, 0xab);
      expect(m?.state).toBe('SUSPENDED');
      expect(m?.invalidTracks).toBe(1);
      expect(m?.lastError ?? '').not.toMatch(/link failed or timed out/);
      await mirror.remove();
      primary.close();
    } finally {
      dir.cleanup();
    }
  });

  it('creates a remote mirror whose link is not up yet in COPY: a host write marks its track and nothing fails', async () => {
    const dir = makeTempDir('snaptape-mirror-');
    try {
      const primary = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed: 8 });
      const target = `127.0.0.1:${await unusedPort()}/sec`;
      const mirror = MirrorSession.create(primary, [target], { linkTimeoutMs: 200 });
      expect(mirror.status().mirrors[0]?.state).toBe('COPY');
      const { track, m } = writeFirstTrackOfCylinderOne(primary, mirror, 0xcd);
      expect(m?.state).toBe('COPY');
      expect(m?.invalidTracks).toBe(primary.unitCount);
      expect(m?.lastError ?? '').not.toMatch(/link failed or timed out/);
      // The bit is on disk before the write returned: a restart would resend the track.
      const { file, state } = MirrorStateFile.open(mirrorFilePath(primary.path));
      file.close();
      expect(state.table.isValid(track, 2)).toBe(false);
      await mirror.remove();
      primary.close();
    } finally {
      dir.cleanup();
    }
  });
});
