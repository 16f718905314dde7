/**
 * Layer: scenario. Review of the NBD WRITEs in flight: a deferred write that fails after its
 * client has gone. Before WRITEs ran in flight, a write that the server executed and that failed
 * was always reported as a backend-error event, whether or not the client was still there to read
 * the reply; a write that fails on the disk is news to the server's listeners even when nobody
 * waits for its answer.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { NbdCommand } from '../../src/export/nbd-constants.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import type { NbdServerEvent } from '../../src/export/nbd-server-events.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { FaultyBackend, parseFaultPlan } from '../../src/image/index.js';
import { openImage } from '../../src/image/open-image.js';
import { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { occupyLibuvPool } from '../harness/busy-libuv-pool.js';
import { RawPeer, requestFrame } from './helpers/raw-peer.js';
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

describe('a deferred WRITE that fails after its client reset', () => {
  it('is still reported as a backend error', async () => {
    dir = makeTempDir('snaptape-nbd-fail-reset-');
    const path = join(dir.path, 'v.ckd');
    createVolume(path, { type: '3390', cylinders: 2, volser: 'FRESET' }).close();
    // Track 5 lands, then track 6 fails: the failure comes once the pool has written track 5.
    volume = new Volume(new FaultyBackend(openImage(path), parseFaultPlan('write:unit=6:ENOSPC')));
    // Small writes run in line while they are fast (io-placement.ts): these must wait on the pool.
    slotFileOf(volume).writePlacement.fix('pool');
    const slot = volume.backend.slotBytes;
    server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'v' })] });
    const events: NbdServerEvent[] = [];
    server.onEvent((event) => events.push(event));
    const { port } = await server.listen();
    const peer = await RawPeer.connect(port);
    await peer.enterTransmission('v');
    const busy = occupyLibuvPool();
    peer.send(Buffer.concat([requestFrame({ type: NbdCommand.WRITE, offsetBytes: 5 * slot, length: 2 * slot }), Buffer.alloc(2 * slot, 0x56)]));
    for (let i = 0; i < 200 && volume.deferredWritesInFlight === 0; i++) await sleep(5);
    expect(volume.deferredWritesInFlight).toBe(1);
    peer.socket.resetAndDestroy();
    await busy;
    await volume.writesLanded();
    for (let i = 0; i < 100 && !events.some((e) => e.kind === 'connection-closed'); i++) await sleep(10);
    expect(events.filter((e) => e.kind === 'backend-error')).toHaveLength(1);
  }, 30_000);
});
