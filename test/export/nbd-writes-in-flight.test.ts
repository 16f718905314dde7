/**
 * Layer: scenario. WRITEs in flight on one NBD connection (issue 22, point 4): where the backend
 * writes off the owning thread (`writeAsync`), several WRITEs of a connection land at once, never
 * more than SERVER_WRITES_IN_FLIGHT, each answered once it has landed; a READ or WRITE that
 * overlaps a WRITE in flight waits for it; a FLUSH is answered only once every WRITE before it has
 * landed. Then the same on a real volume (the pwrite on the libuv pool), and a deferred write that
 * fails gets its own error reply while the connection carries on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gatherBytes, type ScatteredBytes } from '../../src/base/scattered-bytes.js';
import { createVolume } from '../../src/api/volume-api.js';
import { NbdProtocolError } from '../../src/errors/snaptape-error.js';
import { SERVER_WRITE_BYTES_IN_FLIGHT, SERVER_WRITES_IN_FLIGHT } from '../../src/export/nbd-constants.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { FaultyBackend, parseFaultPlan } from '../../src/image/index.js';
import { openImage } from '../../src/image/open-image.js';
import { Volume } from '../../src/volume/volume.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { MemoryBackend } from './helpers/memory-backend.js';
import { SeededRandom } from './helpers/seeded-random.js';
import { slotFileOf } from '../harness/slot-file-of.js';

/** A memory backend whose writes land a while after they were decided, and which notes what ran when. */
class SlowWriteBackend extends MemoryBackend {
  landing = 0;
  mostLanding = 0;
  readonly events: string[] = [];

  async writeAsync(offsetBytes: number, data: ScatteredBytes): Promise<void> {
    this.events.push(`decide ${offsetBytes}`);
    this.landing++;
    this.mostLanding = Math.max(this.mostLanding, this.landing);
    // Later writes land sooner, so they complete out of order.
    await new Promise((resolve) => setTimeout(resolve, 5 + ((offsetBytes / 4096) % 5) * 4));
    this.write(offsetBytes, gatherBytes(data));
    this.events.push(`landed ${offsetBytes}`);
    this.landing--;
  }

  async writeZeroesAsync(offsetBytes: number, length: number): Promise<void> {
    this.events.push(`decide zeroes ${offsetBytes}`);
    this.landing++;
    this.mostLanding = Math.max(this.mostLanding, this.landing);
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.writeZeroes(offsetBytes, length);
    this.events.push(`landed zeroes ${offsetBytes}`);
    this.landing--;
  }

  override read(offsetBytes: number, length: number): Buffer {
    this.events.push(`read ${offsetBytes} while ${this.landing} land`);
    return super.read(offsetBytes, length);
  }

  override flush(): void {
    this.events.push(`flush while ${this.landing} land`);
    super.flush();
  }
}

let server: NbdServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The most `read` gave, sampled at every turn of the event loop until `stop`. */
function sampleMost(read: () => number): { readonly most: number; stop(): void } {
  let most = 0;
  let sampling = true;
  const sample = (): void => {
    most = Math.max(most, read());
    if (sampling) setImmediate(sample);
  };
  sample();
  return {
    get most() {
      return most;
    },
    stop: () => {
      sampling = false;
    },
  };
}

describe('WRITEs in flight on one connection', () => {
  it('land several at once, up to the bound, decided in order; overlapping READs and a FLUSH wait for them', async () => {
    const backend = new SlowWriteBackend({ name: 'slow', sizeBytes: 1 << 20 });
    server = new NbdServer({ exports: [backend] });
    const { port } = await server.listen();
    const client = await NbdClient.connect({ port, exportName: 'slow' });
    try {
      // A block apart from each other, so they do not land merged (nbd-write-merge.test.ts).
      const stride = 8192;
      const writes = Array.from({ length: 30 }, (_, i) => client.write(i * stride, Buffer.alloc(4096, i + 1)));
      // Overlaps the write of block 29, sent just before it: it must return the new bytes.
      const overlapping = client.read(29 * stride + 100, 200);
      // Rewrites block 3 while the first write of it may still land: the second must win.
      const rewrite = client.write(3 * stride, Buffer.alloc(4096, 0xee));
      const flushed = client.flush();
      await Promise.all(writes);
      expect((await overlapping).equals(Buffer.alloc(200, 30))).toBe(true);
      await rewrite;
      await flushed;
      expect(backend.mostLanding).toBeGreaterThan(1);
      expect(backend.mostLanding).toBeLessThanOrEqual(SERVER_WRITES_IN_FLIGHT);
      // Decided in request order.
      const decided = backend.events.filter((e) => e.startsWith('decide')).map((e) => Number(e.split(' ')[1]));
      expect(decided.slice(0, 30)).toEqual(Array.from({ length: 30 }, (_, i) => i * stride));
      expect(backend.events).toContain(`read ${29 * stride + 100} while 0 land`);
      expect(backend.events.filter((e) => e.startsWith('flush'))).toEqual(['flush while 0 land']);
      expect(backend.data.subarray(3 * stride, 3 * stride + 4096).equals(Buffer.alloc(4096, 0xee))).toBe(true);
      expect(backend.data.subarray(4 * stride, 4 * stride + 4096).equals(Buffer.alloc(4096, 5))).toBe(true);
    } finally {
      await client.disconnect();
    }
  });

  it('holds at most SERVER_WRITE_BYTES_IN_FLIGHT of payload in flight, and close() waits for every write to land', async () => {
    const backend = new SlowWriteBackend({ name: 'slow', sizeBytes: 32 << 20 });
    server = new NbdServer({ exports: [backend] });
    const { port } = await server.listen();
    const client = await NbdClient.connect({ port, exportName: 'slow' });
    const mib = 1 << 20;
    const writes = Array.from({ length: 12 }, (_, i) => client.write(i * 2 * mib, Buffer.alloc(mib, i + 1)));
    await Promise.all(writes);
    expect(backend.mostLanding).toBeGreaterThan(1);
    expect(backend.mostLanding * mib).toBeLessThanOrEqual(SERVER_WRITE_BYTES_IN_FLIGHT);
    // Writes still landing when the server closes: close() resolves only once they all have.
    const late = Array.from({ length: 6 }, (_, i) => client.write((i * 2 + 1) * mib, Buffer.alloc(4096, 0x70 + i)).catch(() => undefined));
    // Bounded: the writes were sent; wait (at most 5 s) until some are landing.
    for (const deadline = Date.now() + 5000; backend.landing === 0 && Date.now() < deadline;) await new Promise((resolve) => setImmediate(resolve));
    expect(backend.landing).toBeGreaterThan(0);
    const decided = backend.events.filter((e) => e.startsWith('decide')).length;
    await server.close();
    server = undefined;
    expect(backend.landing).toBe(0);
    expect(backend.events.filter((e) => e.startsWith('landed')).length).toBe(decided);
    client.destroy();
    await Promise.all(late);
  });

  it('lands a small WRITE_ZEROES in flight beside the WRITEs, and an overlapping READ sees its zeros', async () => {
    const backend = new SlowWriteBackend({ name: 'slow', sizeBytes: 1 << 20, fill: (d) => d.fill(0xff) });
    server = new NbdServer({ exports: [backend] });
    const { port } = await server.listen();
    const client = await NbdClient.connect({ port, exportName: 'slow' });
    try {
      // As the mirror link sends a track: its data, then WRITE_ZEROES over the rest of its slot.
      const sent: Promise<void>[] = [];
      for (let i = 0; i < 6; i++) {
        sent.push(client.write(i * 8192, Buffer.alloc(4096, i + 1)));
        sent.push(client.writeZeroes(i * 8192 + 4096, 4096));
      }
      const overlapping = client.read(8192 + 4000, 200);
      await Promise.all(sent);
      const expected = Buffer.concat([Buffer.alloc(96, 2), Buffer.alloc(104)]);
      expect((await overlapping).equals(expected)).toBe(true);
      // The zero fills did not wait for the writes before them to land: some were decided while others landed.
      const firstZeroes = backend.events.indexOf('decide zeroes 4096');
      const landedBefore = backend.events.slice(0, firstZeroes).filter((e) => e.startsWith('landed'));
      expect(landedBefore).toHaveLength(0);
      expect(backend.mostLanding).toBeGreaterThan(2);
      for (let i = 0; i < 6; i++) {
        expect(backend.data.subarray(i * 8192, i * 8192 + 4096).equals(Buffer.alloc(4096, i + 1))).toBe(true);
        expect(backend.data.subarray(i * 8192 + 4096, (i + 1) * 8192).equals(Buffer.alloc(4096))).toBe(true);
      }
    } finally {
      await client.disconnect();
    }
  });

  it('on a volume, pipelined overlapping writes and reads return the new bytes, and a flush finds them in the file', async () => {
    const dir = makeTempDir('snaptape-nbd-writes-inflight-');
    const path = join(dir.path, 'v.ckd');
    const volume = createVolume(path, { type: '3390', cylinders: 5, volser: 'WIFL01' });
    try {
      fillVolume(volume, { seed: 6, percent: 60 });
      const flat = volume.readFlat(0, volume.flatSizeBytes);
      server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'v' })] });
      const { port } = await server.listen();
      const client = await NbdClient.connect({ port, exportName: 'v' });
      const landing = sampleMost(() => volume.deferredWritesInFlight);
      const rng = new SeededRandom(7);
      try {
        const checks: Promise<void>[] = [];
        for (let i = 0; i < 300; i++) {
          const length = 1 + rng.int(200_000);
          const at = rng.int(flat.length - length);
          if (rng.int(4) === 0) {
            // A zero fill of one chunk at most lands in flight too.
            flat.fill(0, at, at + length);
            checks.push(client.writeZeroes(at, length));
          } else {
            const data = rng.bytes(length);
            data.copy(flat, at);
            checks.push(client.write(at, data));
          }
          if (i % 3 === 2) {
            // A read of what was just written (and what is around it), while that write is in flight.
            const from = Math.max(0, at - 1000);
            const to = Math.min(flat.length, at + length + 1000);
            const expected = Buffer.from(flat.subarray(from, to));
            checks.push(client.read(from, to - from).then((got) => expect(got.equals(expected), `read ${from}+${to - from}`).toBe(true)));
          }
        }
        await client.flush();
        // Every write before the flush is in the image file once the flush is answered.
        const file = readFileSync(path);
        const slot = volume.backend.slotBytes;
        const dataOffset = file.length - volume.unitCount * slot;
        expect(file.subarray(dataOffset).equals(flat)).toBe(true);
        await Promise.all(checks);
        expect(landing.most).toBeGreaterThan(1);
      } finally {
        landing.stop();
        await client.disconnect();
      }
      await server.close();
      server = undefined;
      // The size table still covers every non-zero byte: each track's used prefix, zero-padded, is its slot.
      const sizes = volume.trackSizes();
      for (let t = 0; t < volume.unitCount; t++) {
        const slot = flat.subarray(t * volume.backend.slotBytes, (t + 1) * volume.backend.slotBytes);
        expect(
          slot.subarray(sizes.get(t)).every((b) => b === 0),
          `track ${t} past V`,
        ).toBe(true);
      }
    } finally {
      await server?.close();
      server = undefined;
      volume.close();
      dir.cleanup();
    }
  });

  it('answers a deferred write that fails with its errno, and carries on', async () => {
    const dir = makeTempDir('snaptape-nbd-writes-fail-');
    const path = join(dir.path, 'v.ckd');
    createVolume(path, { type: '3390', cylinders: 2, volser: 'WFAIL1' }).close();
    const volume = new Volume(new FaultyBackend(openImage(path), parseFaultPlan('write:unit=5:ENOSPC')));
    // Small writes run in line while they are fast (io-placement.ts): these must land on the pool.
    slotFileOf(volume).writePlacement.fix('pool');
    try {
      server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'v' })] });
      const { port } = await server.listen();
      const client = await NbdClient.connect({ port, exportName: 'v' });
      const slot = volume.backend.slotBytes;
      const landing = sampleMost(() => volume.deferredWritesInFlight);
      try {
        const before = client.write(4 * slot, Buffer.alloc(slot, 0x44));
        const failing = client.write(5 * slot, Buffer.alloc(slot, 0x55)).then(
          () => undefined,
          (error: unknown) => error,
        );
        const after = client.write(6 * slot, Buffer.alloc(slot, 0x66));
        await Promise.all([before, after]);
        const error = await failing;
        expect(error).toBeInstanceOf(NbdProtocolError);
        expect((error as NbdProtocolError).details['errnoName']).toBe('ENOSPC');
        // The connection carries on: reads and writes still work.
        await client.write(7 * slot, Buffer.alloc(10, 0x77));
        expect((await client.read(6 * slot, slot)).equals(Buffer.alloc(slot, 0x66))).toBe(true);
        expect((await client.read(7 * slot, 10)).equals(Buffer.alloc(10, 0x77))).toBe(true);
        expect(landing.most).toBeGreaterThan(0);
      } finally {
        landing.stop();
        await client.disconnect();
      }
    } finally {
      await server?.close();
      server = undefined;
      volume.close();
      dir.cleanup();
    }
  });
});
