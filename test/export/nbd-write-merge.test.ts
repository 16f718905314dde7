/**
 * Layer: scenario. WRITEs that follow each other on one NBD connection, already buffered whole and
 * each starting where the one before ends, land as one write of at most SERVER_WRITE_MERGE_BYTES
 * (issue 22, point 4: one hand-over to the thread pool instead of one per WRITE), its payload the
 * socket's chunks as they lie (no gather copy: one pwritev). Each WRITE still gets its own reply,
 * byte-exact data, and its own errno where its part fails; a client that goes away with merged
 * WRITEs in flight leaves their bytes landed and the server serving.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gatherBytes, scatteredLength, type ScatteredBytes } from '../../src/base/scattered-bytes.js';
import { NoSpaceError } from '../../src/errors/snaptape-error.js';
import { NbdCommand, NbdErrno, SERVER_WRITE_MERGE_BYTES, SERVER_WRITES_IN_FLIGHT } from '../../src/export/nbd-constants.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { createVolume } from '../../src/volume/open-volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { MemoryBackend } from './helpers/memory-backend.js';
import { RawPeer, requestFrame } from './helpers/raw-peer.js';
import { SeededRandom } from './helpers/seeded-random.js';

const LANDING_MS = 20;
/** Where the WRITEs that fill a connection's slots in flight go (`blockers`): past what the tests look at. */
const BLOCKERS_AT = 6 << 20;

/** A memory backend whose writes land on a later turn, each noted with its range; a write over `failAt` fails. */
class LandingBackend extends MemoryBackend {
  readonly landed: { readonly offset: number; readonly length: number }[] = [];
  readonly tried: { readonly offset: number; readonly length: number; readonly pieces: number }[] = [];
  failAt: number | undefined;

  async writeAsync(offsetBytes: number, scattered: ScatteredBytes): Promise<void> {
    const data = gatherBytes(scattered);
    this.tried.push({ offset: offsetBytes, length: scatteredLength(scattered), pieces: Buffer.isBuffer(scattered) ? 1 : scattered.length });
    // The caller keeps `data` unchanged until this settles: copy it only once it "lands".
    await new Promise((resolve) => setTimeout(resolve, LANDING_MS));
    if (this.failAt !== undefined && offsetBytes <= this.failAt && this.failAt < offsetBytes + data.length) {
      throw new NoSpaceError(`Cannot write export '${this.name}': injected no space at offset ${offsetBytes}`);
    }
    this.landed.push({ offset: offsetBytes, length: data.length });
    this.write(offsetBytes, data);
  }
}

let server: NbdServer | undefined;
let dir: TempDir | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  dir?.cleanup();
  dir = undefined;
});

/** Serves `backend` alone (as `server`, closed after each test) and connects a raw peer in transmission to it. */
async function servedPeer(backend: LandingBackend): Promise<{ peer: RawPeer; port: number }> {
  server = new NbdServer({ exports: [backend] });
  const { port } = await server.listen();
  const peer = await RawPeer.connect(port);
  await peer.enterTransmission(backend.name);
  return { peer, port };
}

/** The WRITE frames (header and payload) of `count` adjacent WRITEs of `length` bytes from `start`, handles 1.. on. */
function adjacentWrites(rng: SeededRandom, start: number, count: number, length: number): { frames: Buffer; payloads: Buffer[] } {
  const payloads = Array.from({ length: count }, () => rng.bytes(length));
  const parts = payloads.flatMap((payload, i) => [requestFrame({ type: NbdCommand.WRITE, handle: i + 1, offsetBytes: start + i * length, length }), payload]);
  return { frames: Buffer.concat(parts), payloads };
}

/**
 * SERVER_WRITES_IN_FLIGHT small WRITEs apart from each other (handles 1001 on): sent first, they fill
 * the connection's slots, so the WRITEs sent behind them are all buffered by the time the first of
 * them is read (the server waits LANDING_MS for a slot).
 */
function blockers(): Buffer {
  return Buffer.concat(
    Array.from({ length: SERVER_WRITES_IN_FLIGHT }, (_, i) => [
      requestFrame({ type: NbdCommand.WRITE, handle: 1001 + i, offsetBytes: BLOCKERS_AT + i * 8192, length: 512 }),
      Buffer.alloc(512, 0xbb),
    ]).flat(),
  );
}

/** The writes that landed before BLOCKERS_AT, by offset. */
function landedBelow(backend: LandingBackend): { readonly offset: number; readonly length: number }[] {
  return backend.landed.filter((w) => w.offset < BLOCKERS_AT).sort((a, b) => a.offset - b.offset);
}

/** Reads `count` simple replies: errno by handle. */
async function replies(peer: RawPeer, count: number): Promise<Map<number, number>> {
  const byHandle = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const reply = await peer.read(16);
    byHandle.set(reply.readUInt32BE(12), reply.readUInt32BE(4));
  }
  return byHandle;
}

describe('WRITEs that follow each other on one connection', () => {
  it('land as fewer, larger writes, byte-exact, each with its own reply', async () => {
    const backend = new LandingBackend({ name: 'm', sizeBytes: 8 << 20 });
    const { peer } = await servedPeer(backend);
    try {
      const count = 24;
      const length = 100_000;
      const start = 12_345;
      const { frames, payloads } = adjacentWrites(new SeededRandom(22), start, count, length);
      // One send: the server finds the WRITEs behind the first already buffered (in many socket chunks).
      peer.send(Buffer.concat([blockers(), frames]));
      const got = await replies(peer, count + SERVER_WRITES_IN_FLIGHT);
      expect([...got.keys()].filter((h) => h < 1001).sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
      expect([...got.values()].every((errno) => errno === NbdErrno.OK)).toBe(true);
      expect(backend.data.subarray(start, start + count * length).equals(Buffer.concat(payloads))).toBe(true);
      expect(backend.data.subarray(0, start).every((b) => b === 0)).toBe(true);
      expect(backend.data.subarray(start + count * length, BLOCKERS_AT).every((b) => b === 0)).toBe(true);
      // Merged: fewer writes than WRITEs, none larger than the bound, covering the range in order.
      const sorted = landedBelow(backend);
      expect(sorted.length).toBeLessThan(count);
      expect(sorted.every((w) => w.length <= SERVER_WRITE_MERGE_BYTES && w.length % length === 0)).toBe(true);
      expect(sorted.reduce((at, w) => (w.offset === at ? at + w.length : -1), start)).toBe(start + count * length);
      // Taken as the socket's chunks: a merged write of several pieces (100,000-byte payloads span chunks).
      expect(backend.tried.some((w) => w.offset < BLOCKERS_AT && w.length > length && w.pieces > 1)).toBe(true);
    } finally {
      peer.destroy();
    }
  });

  it('does not merge a WRITE with flags, one that is not adjacent, nor past the bound', async () => {
    const backend = new LandingBackend({ name: 'm', sizeBytes: 8 << 20 });
    const { peer } = await servedPeer(backend);
    try {
      const half = SERVER_WRITE_MERGE_BYTES / 2;
      const rng = new SeededRandom(5);
      const requests = [
        { offsetBytes: 0, length: half, flags: 0 },
        { offsetBytes: half, length: half, flags: 0 },
        // Would make the first write larger than the bound.
        { offsetBytes: 2 * half, length: 4096, flags: 0 },
        // A gap before it.
        { offsetBytes: 2 * half + 8192, length: 4096, flags: 0 },
        // FUA.
        { offsetBytes: 2 * half + 12288, length: 4096, flags: 1 },
      ];
      const payloads = requests.map((r) => rng.bytes(r.length));
      const frames = requests.flatMap((r, i) => [requestFrame({ type: NbdCommand.WRITE, handle: i + 1, ...r }), payloads[i] as Buffer]);
      peer.send(Buffer.concat([blockers(), ...frames]));
      const got = await replies(peer, requests.length + SERVER_WRITES_IN_FLIGHT);
      expect([...got.values()].every((errno) => errno === NbdErrno.OK)).toBe(true);
      requests.forEach((r, i) => expect(backend.data.subarray(r.offsetBytes, r.offsetBytes + r.length).equals(payloads[i] as Buffer)).toBe(true));
      expect(landedBelow(backend)).toEqual([
        { offset: 0, length: 2 * half },
        { offset: 2 * half, length: 4096 },
        { offset: 2 * half + 8192, length: 4096 },
        { offset: 2 * half + 12288, length: 4096 },
      ]);
    } finally {
      peer.destroy();
    }
  });

  it('gives the one WRITE whose part fails its errno, and lands the others', async () => {
    const backend = new LandingBackend({ name: 'm', sizeBytes: 8 << 20 });
    const length = 65_536;
    const failAt = 5 * length + 17;
    backend.failAt = failAt;
    const { peer } = await servedPeer(backend);
    try {
      const count = 12;
      const { frames, payloads } = adjacentWrites(new SeededRandom(9), 0, count, length);
      peer.send(Buffer.concat([blockers(), frames]));
      const got = await replies(peer, count + SERVER_WRITES_IN_FLIGHT);
      // Merged (as the socket's chunks), then written again one by one where the merged write failed,
      // each with its own bytes (a slice of the chunks).
      expect(backend.tried.some((w) => w.offset <= failAt && failAt < w.offset + w.length && w.length > length && w.pieces > 1)).toBe(true);
      expect(backend.tried.filter((w) => w.offset === 5 * length && w.length === length)).toHaveLength(1);
      for (let i = 0; i < count; i++) {
        expect(got.get(i + 1), `WRITE ${i + 1}`).toBe(i === 5 ? NbdErrno.ENOSPC : NbdErrno.OK);
        if (i !== 5) expect(backend.data.subarray(i * length, (i + 1) * length).equals(payloads[i] as Buffer)).toBe(true);
      }
      // The connection carries on.
      peer.send(requestFrame({ type: NbdCommand.FLUSH, handle: 99 }));
      expect((await replies(peer, 1)).get(99)).toBe(NbdErrno.OK);
    } finally {
      peer.destroy();
    }
  });

  it('lands merged WRITEs whose client went away, and serves the next client', async () => {
    const backend = new LandingBackend({ name: 'm', sizeBytes: 8 << 20 });
    const { peer, port } = await servedPeer(backend);
    const count = 16;
    const length = 65_536;
    const { frames, payloads } = adjacentWrites(new SeededRandom(3), 0, count, length);
    peer.send(Buffer.concat([blockers(), frames]));
    // Gone before most replies (the writes land LANDING_MS after they are decided).
    for (const deadline = Date.now() + 5000; backend.tried.length <= SERVER_WRITES_IN_FLIGHT && Date.now() < deadline;)
      await new Promise((resolve) => setImmediate(resolve));
    peer.destroy();
    await peer.closed;
    const client = await NbdClient.connect({ port, exportName: 'm' });
    try {
      // The next client's FLUSH cannot overtake the first client's writes: wait until they have all landed.
      for (const deadline = Date.now() + 5000; backend.landed.reduce((n, w) => n + w.length, 0) < count * length && Date.now() < deadline;)
        await new Promise((resolve) => setTimeout(resolve, 5));
      expect(backend.data.subarray(0, count * length).equals(Buffer.concat(payloads))).toBe(true);
      expect((await client.read(0, length)).equals(payloads[0] as Buffer)).toBe(true);
    } finally {
      await client.disconnect();
    }
    await server?.close();
    server = undefined;
  });

  it('land byte-exact in a volume image when their payloads lie in many socket chunks', async () => {
    dir = makeTempDir('snaptape-merge-image-');
    const path = join(dir.path, 'v.fba');
    const volume = createVolume(path, { type: 'fba', blocks: 16384, volser: 'MERGE1' });
    const before = readFileSync(path);
    const pieces: number[] = [];
    /** Notes how many buffers each WRITE brings; the blockers' slots stay taken a while, so the WRITEs behind them are buffered. */
    class NotingBackend extends VolumeBackend {
      override async writeAsync(offsetBytes: number, data: ScatteredBytes): Promise<void> {
        const landed = super.writeAsync(offsetBytes, data);
        if (offsetBytes >= BLOCKERS_AT) await new Promise((resolve) => setTimeout(resolve, LANDING_MS));
        else pieces.push(Buffer.isBuffer(data) ? 1 : data.length);
        await landed;
      }
    }
    const backend = new NotingBackend(volume, { name: 'm' });
    server = new NbdServer({ exports: [backend] });
    const { port } = await server.listen();
    const peer = await RawPeer.connect(port);
    try {
      await peer.enterTransmission('m');
      const count = 20;
      const length = 131_072 + 512;
      const start = 4096 + 512;
      const { frames, payloads } = adjacentWrites(new SeededRandom(41), start, count, length);
      peer.send(Buffer.concat([blockers(), frames]));
      const got = await replies(peer, count + SERVER_WRITES_IN_FLIGHT);
      expect([...got.values()].every((errno) => errno === NbdErrno.OK)).toBe(true);
      expect(pieces.some((n) => n > 2)).toBe(true);
      peer.send(requestFrame({ type: NbdCommand.FLUSH, handle: 99 }));
      expect((await replies(peer, 1)).get(99)).toBe(NbdErrno.OK);
      // The image file itself (an FBA image has no header): the bytes, and around them what was there.
      const image = readFileSync(path);
      expect(image.subarray(start, start + count * length).equals(Buffer.concat(payloads))).toBe(true);
      expect(image.subarray(0, start).equals(before.subarray(0, start))).toBe(true);
      expect(image.subarray(start + count * length, BLOCKERS_AT).equals(before.subarray(start + count * length, BLOCKERS_AT))).toBe(true);
    } finally {
      peer.destroy();
      await server.close();
      server = undefined;
      volume.close();
    }
  });
});
