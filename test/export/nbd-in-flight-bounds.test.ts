/**
 * Layer: scenario. Review of the NBD requests in flight: a client that sends requests but never
 * reads a reply must not make the server buffer replies without bound. The synchronous path waits
 * once more than SERVER_REPLY_BYTES_IN_FLIGHT of replies are queued (and drops the client after the
 * idle timeout, "read no reply"); a READ or WRITE that runs in flight must be held to the same rule.
 * (The WRITE branch had the same gap: 16 bytes of reply per request, so showing it takes some half
 * a million requests, too slow for this suite; the one check before each request covers both.)
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { NbdCommand, SERVER_REPLY_BYTES_IN_FLIGHT } from '../../src/export/nbd-constants.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { RawPeer, requestFrame } from './helpers/raw-peer.js';

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

/** A served FBA volume (its reads and writes run in flight) and the reasons its connections closed. */
async function serveVolume(idleTimeoutMs: number): Promise<{ port: number; reasons: string[] }> {
  dir = makeTempDir('snaptape-nbd-bounds-');
  volume = createVolume(join(dir.path, 'v.fba'), { type: 'fba', blocks: 16384, volser: 'BOUND1' });
  server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'v' })], idleTimeoutMs });
  const reasons: string[] = [];
  server.onEvent((event) => {
    if (event.kind === 'connection-closed') reasons.push(event.reason);
  });
  return { port: (await server.listen()).port, reasons };
}

async function closedFor(reasons: string[]): Promise<void> {
  for (let i = 0; i < 1500 && reasons.length === 0; i++) await sleep(10);
}

describe('NBD requests in flight: a client that reads no reply', () => {
  it('READs in flight: the server stops reading requests once its replies pile up, and drops the client', async () => {
    const { port, reasons } = await serveVolume(500);
    const peer = await RawPeer.connect(port);
    await peer.enterTransmission('v');
    peer.socket.pause();
    // 28 bytes of request each, 1 MiB of reply each: 96 MiB of replies for 2.7 KB sent.
    const frame = (i: number): Buffer => requestFrame({ type: NbdCommand.READ, handle: i, offsetBytes: (i % 8) << 20, length: 1 << 20 });
    peer.send(Buffer.concat(Array.from({ length: 96 }, (_, i) => frame(i))));
    await closedFor(reasons);
    // Bounded: it waits once SERVER_REPLY_BYTES_IN_FLIGHT are queued, and the idle timer drops the
    // client that reads none. Unbounded: it reads all 96 requests, queues 96 MiB, then idles on "sent no request".
    expect(reasons).toEqual(['idle: client read no reply for 0.5 s']);
    expect(SERVER_REPLY_BYTES_IN_FLIGHT).toBeLessThan(96 << 20);
    peer.destroy();
  });
});
