/**
 * Layer: scenario. Issue 20, a protected remote secondary (another `snaptape serve`, reached over
 * loopback NBD): while the mirror is not split its export is read-only to every client but the
 * mirror's link (EPERM, as SRDF's write-disabled R2), so status never says in sync over data a
 * client changed; once split, a client may write it, the secondary records those tracks, and the
 * rejoin resends them: in sync only when the images are identical.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { compareImages } from '../../src/api/drill-api.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, nbdPort } from '../server/helpers/serve-process.js';
import { makeBlankSecondary } from './mirror-fixtures.js';
import { mirrorOf, serveOn, waitForMirror } from './remote-fixtures.js';

const CYLS = 3;
const SLOT_BYTES = 56_832;

describe('a protected remote secondary', () => {
  let dir: TempDir | undefined;
  afterEach(() => {
    killAllServers();
    dir?.cleanup();
  });

  it('refuses writes from other clients until split, records them while split, resends them at rejoin', async () => {
    dir = makeTempDir('snaptape-mirror-rguard-');
    const primaryImage = makeFilledVolume(dir.path, 'prim.ckd', { cylinders: CYLS, seed: 31 });
    const secondaryImage = makeBlankSecondary(dir.path, 'sec.ckd', CYLS);
    const sec = await serveOn(secondaryImage, join(dir.path, 'sec.sock'));
    const prim = await serveOn(primaryImage, join(dir.path, 'prim.sock'));
    const secondaryPort = nbdPort(sec.server.info);
    const session = await prim.control.startSession({ type: 'mirror', volume: 'prim', secondaries: [`127.0.0.1:${secondaryPort}/sec`] });
    await waitForMirror(prim.control, session.id, (m) => m.inSync);

    const intruder = await NbdClient.connect({ port: secondaryPort, exportName: 'sec' });
    await expect(intruder.write(10 * SLOT_BYTES + 64, Buffer.alloc(512, 0x77))).rejects.toThrow(/EPERM|read-only/);
    await expect(intruder.writeZeroes(11 * SLOT_BYTES, 4096)).rejects.toThrow(/EPERM|read-only/);
    await intruder.disconnect();
    expect((await mirrorOf(prim.control, session.id)).inSync).toBe(true);
    expect(compareImages(primaryImage, secondaryImage).mismatched).toBe(0);

    await prim.control.splitMirror(session.id, 'M2');
    // The split reaches the secondary over the link: then its export takes writes.
    const writer = await waitForWritable(secondaryPort);
    await writer.write(12 * SLOT_BYTES + 128, Buffer.alloc(1024, 0x5a));
    await writer.write(40 * SLOT_BYTES + 8, Buffer.alloc(512, 0xa5));
    await writer.flush();
    await writer.disconnect();
    expect((await mirrorOf(prim.control, session.id)).inSync).toBe(false);

    await prim.control.rejoinMirror(session.id, 'M2');
    const rejoined = await waitForMirror(prim.control, session.id, (m) => m.inSync);
    expect(rejoined.resync?.total).toBe(2);
    expect(compareImages(primaryImage, secondaryImage).mismatched).toBe(0);
    const again = await NbdClient.connect({ port: secondaryPort, exportName: 'sec' });
    await expect(again.write(12 * SLOT_BYTES, Buffer.alloc(512, 1))).rejects.toThrow(/EPERM|read-only/);
    await again.disconnect();

    // Removed: the secondary is released, its export takes writes again. The release travels over
    // the link after the remove is answered, as the split does (on a loaded machine it lags).
    await prim.control.removeMirror(session.id);
    const free = await waitForWritable(secondaryPort);
    expect(free.info.readOnly).toBe(false);
    await free.write(12 * SLOT_BYTES, Buffer.alloc(512, 1));
    await free.disconnect();
  });
});

/** Connects until the export is offered writable (the split travels over the link), within 10 s. */
async function waitForWritable(port: number): Promise<NbdClient> {
  const deadline = Date.now() + 10_000;
  // Bounded by the deadline.
  for (;;) {
    const client = await NbdClient.connect({ port, exportName: 'sec' });
    if (!client.info.readOnly || Date.now() > deadline) return client;
    await client.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
