/**
 * Layer: scenario. Review of the NBD WRITEs in flight at a server shutdown (`snaptape serve` on
 * its first SIGTERM/SIGINT closes the NBD server, then syncs and closes the volumes). `close()`
 * drains every connection, its queued replies flushed: a WRITE whose bytes the server has put in
 * the image (and that the shutdown then syncs) is answered. Before WRITEs ran in flight every
 * executed WRITE was; a client that gets no reply must take the write as lost, though it landed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { occupyLibuvPool } from '../harness/busy-libuv-pool.js';
import { slotFileOf } from '../harness/slot-file-of.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let server: NbdServer | undefined;
let volume: Volume | undefined;
let dir: TempDir | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  volume?.close();
  volume = undefined;
  dir?.cleanup();
  dir = undefined;
});

describe('NBD server close with WRITEs in flight', () => {
  it('answers every WRITE whose bytes it put in the image', async () => {
    dir = makeTempDir('snaptape-nbd-shutdown-');
    const path = join(dir.path, 'v.fba');
    volume = createVolume(path, { type: 'fba', blocks: 8192, volser: 'SHUTWR' });
    // Small writes run in line while they are fast (io-placement.ts): these must wait on the pool.
    slotFileOf(volume).writePlacement.fix('pool');
    server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'v' })] });
    const { port } = await server.listen();
    const client = await NbdClient.connect({ port, exportName: 'v' });
    const busy = occupyLibuvPool();
    // Apart from each other, so they do not land as one merged write (nbd-write-merge.test.ts).
    const answers = Array.from({ length: 4 }, (_, i) =>
      client.write(i * 131072, Buffer.alloc(65536, 0x30 + i)).then(
        () => 'answered',
        () => 'not answered',
      ),
    );
    const v = volume;
    for (let i = 0; i < 200 && v.deferredWritesInFlight < 4; i++) await sleep(5);
    expect(v.deferredWritesInFlight).toBe(4);
    // The shutdown starts while the four writes are still queued on the pool.
    const closing = server.close();
    await busy;
    await closing;
    server = undefined;
    const file = readFileSync(path);
    const landed = [0, 1, 2, 3].map((i) => file.subarray(i * 131072, i * 131072 + 65536).every((b) => b === 0x30 + i));
    expect(landed).toEqual([true, true, true, true]);
    expect(await Promise.all(answers)).toEqual(['answered', 'answered', 'answered', 'answered']);
    client.destroy();
  }, 30_000);
});
