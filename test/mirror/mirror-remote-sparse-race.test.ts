/**
 * Layer: property. A remote mirror secondary is sent a sparse run of tracks as used bytes and zero
 * tails, and its server writes a zero fill only below its own size table V. Raw writes through
 * the primary's NBD export race the initial copy: data past tracks' end markers, written zeros
 * that shrink a track, WRITE_ZEROES starting and ending mid-slot over written tracks; then the
 * same as host writes the mirror sends on (a track's used bytes and a zero tail). The secondary
 * starts with full tracks and garbage past its end markers. Once the mirror says "in sync", the
 * secondary must be byte-identical to the primary. Replay with SNAPTAPE_SEED.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../src/base/prng.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { createVolume, openVolume } from '../../src/volume/open-volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, nbdPort } from '../server/helpers/serve-process.js';
import { seedFromEnv } from './mirror-fixtures.js';
import { serveOn, waitForMirror } from './remote-fixtures.js';

const CYLINDERS = 10;
const HEADS = 15;
const SLOT = 56832;

let dir: TempDir | undefined;
let server: NbdServer | undefined;
afterEach(async () => {
  killAllServers();
  await server?.close();
  server = undefined;
  dir?.cleanup();
  dir = undefined;
});

/** One raw write through an NBD export to a track past cylinder 0: data, written zeros, or a zero fill. */
async function raceWrite(client: NbdClient, prng: Prng, trackCount: number): Promise<void> {
  const at = (HEADS + prng.below(trackCount - HEADS)) * SLOT;
  const end = trackCount * SLOT;
  const pick = prng.below(4);
  if (pick === 0) {
    const data = Buffer.alloc(1 + prng.below(4000));
    prng.fill(data);
    await client.write(at + prng.below(SLOT - data.length), data);
  } else if (pick === 1) {
    // A track's first bytes: a sparse track in front of zeros.
    const data = Buffer.alloc(1 + prng.below(3000));
    prng.fill(data);
    await client.write(at, data);
  } else if (pick === 2) {
    const from = at + prng.below(SLOT);
    await client.write(from, Buffer.alloc(Math.min(end - from, 1 + prng.below(2 * SLOT))));
  } else {
    const from = at + prng.below(SLOT);
    await client.writeZeroes(from, Math.min(end - from, 1 + prng.below(3 * SLOT)));
  }
}

describe('a sparse remote mirror secondary under racing raw writes', () => {
  it('is identical once the mirror says it is in sync', async () => {
    const seed = seedFromEnv('mirror remote sparse race');
    const prng = new Prng(seed);
    dir = makeTempDir('snaptape-mirror-remote-sparse-race-');
    const primaryPath = join(dir.path, 'prim.ckd');
    const secondaryPath = join(dir.path, 'sec.ckd');
    const primary = createVolume(primaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'PRIM01' });
    const trackCount = primary.ckd.trackCount;
    for (let t = HEADS; t < trackCount; t += 3)
      primary.writeTrackRecords(t, [
        { key: Buffer.alloc(0), data: Buffer.alloc(2000, t & 0xff) },
        { key: Buffer.alloc(0), data: Buffer.alloc(1500, 0x41) },
      ]);
    primary.close();
    const old = createVolume(secondaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' });
    for (let t = HEADS; t < trackCount; t += 2) old.writeTrackRecords(t, [{ key: Buffer.alloc(0), data: Buffer.alloc(30000, 0x77) }]);
    for (let t = HEADS + 1; t < trackCount; t += 2) old.writeFlat(t * SLOT + SLOT - 3000, Buffer.alloc(2000, 0x55));
    old.close();

    const secondary = openVolume(secondaryPath, { readOnly: false });
    server = new NbdServer({ exports: [new VolumeBackend(secondary, { name: 'sec' })] });
    const { port } = await server.listen();
    const prim = await serveOn(primaryPath, join(dir.path, 'prim.sock'));
    const client = await NbdClient.connect({ port: nbdPort(prim.server.info), exportName: 'prim' });
    try {
      const session = await prim.control.startSession({ type: 'mirror', volume: 'prim', secondaries: [`127.0.0.1:${port}/sec`] });
      // Writes race the initial copy once the link is up, then go to the secondary as host writes.
      await waitForMirror(prim.control, session.id, (m) => m.connected);
      for (let i = 0; i < 100; i++) await raceWrite(client, prng, trackCount);
      await waitForMirror(prim.control, session.id, (m) => m.inSync);
      for (let i = 0; i < 100; i++) await raceWrite(client, prng, trackCount);
      await waitForMirror(prim.control, session.id, (m) => m.inSync);
      await client.flush();
    } finally {
      await client.disconnect();
      await prim.server.stop();
      await server.close();
      server = undefined;
      secondary.close();
    }
    expect(readFileSync(secondaryPath).equals(readFileSync(primaryPath))).toBe(true);
  }, 120_000);
});
