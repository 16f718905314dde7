/**
 * Layer: scenario. READs in flight on one NBD connection (issue 22, point 4): where the backend
 * reads off the owning thread, several READs of a connection run at once, each answered as it
 * completes (out of order), never more than SERVER_READS_IN_FLIGHT; a WRITE sent after READs on the
 * same connection lands only once they are done, and a READ sent after a WRITE sees it. Then the
 * same on a real volume (VolumeBackend, reads on the libuv pool) against its own bytes.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { SERVER_READS_IN_FLIGHT } from '../../src/export/nbd-constants.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { MemoryBackend } from './helpers/memory-backend.js';
import { SeededRandom } from './helpers/seeded-random.js';
import { slotFileOf } from '../harness/slot-file-of.js';

/** A memory backend whose asynchronous reads take a while, and which notes what ran when. */
class SlowReadBackend extends MemoryBackend {
  running = 0;
  mostRunning = 0;
  readonly events: string[] = [];

  readInto(offsetBytes: number, into: Buffer): void {
    this.data.copy(into, 0, offsetBytes, offsetBytes + into.length);
  }

  async readIntoAsync(offsetBytes: number, into: Buffer): Promise<void> {
    this.running++;
    this.mostRunning = Math.max(this.mostRunning, this.running);
    // Later reads finish sooner, so replies go out of order.
    await new Promise((resolve) => setTimeout(resolve, 5 + (offsetBytes % 7) * 3));
    this.readInto(offsetBytes, into);
    this.events.push(`read ${offsetBytes}`);
    this.running--;
  }

  override write(offsetBytes: number, data: Buffer): void {
    this.events.push(`write ${offsetBytes} while ${this.running} reads run`);
    super.write(offsetBytes, data);
  }
}

let server: NbdServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('READs in flight on one connection', () => {
  it('run several at once, up to the bound, and a WRITE waits for the READs sent before it', async () => {
    const backend = new SlowReadBackend({ name: 'slow', sizeBytes: 1 << 20, fill: (d) => new SeededRandom(9).bytes(d.length).copy(d) });
    const before = Buffer.from(backend.data);
    server = new NbdServer({ exports: [backend] });
    const { port } = await server.listen();
    const client = await NbdClient.connect({ port, exportName: 'slow' });
    try {
      const reads = Array.from({ length: 40 }, (_, i) => client.read(i * 4096, 4096));
      const overwrite = Buffer.alloc(40 * 4096, 0xab);
      const write = client.write(0, overwrite);
      const after = client.read(0, 40 * 4096);
      const got = await Promise.all(reads);
      await write;
      got.forEach((data, i) => expect(data.equals(before.subarray(i * 4096, (i + 1) * 4096))).toBe(true));
      expect((await after).equals(overwrite)).toBe(true);
      expect(backend.mostRunning).toBeGreaterThan(1);
      expect(backend.mostRunning).toBeLessThanOrEqual(SERVER_READS_IN_FLIGHT);
      const writeAt = backend.events.findIndex((e) => e.startsWith('write'));
      expect(backend.events[writeAt]).toBe('write 0 while 0 reads run');
      expect(backend.events.slice(0, writeAt).filter((e) => e.startsWith('read'))).toHaveLength(40);
      // Out of order: the reads did not all finish in the order they were sent.
      const order = backend.events.slice(0, writeAt).map((e) => Number(e.split(' ')[1]));
      expect(order).not.toEqual([...order].sort((a, b) => a - b));
    } finally {
      await client.disconnect();
    }
  });

  it.each(['inline', 'pool'] as const)("on a volume, pipelined READs (%s) return the volume's bytes and see the WRITEs sent before them", async (place) => {
    const dir = makeTempDir('snaptape-nbd-inflight-');
    const volume = createVolume(join(dir.path, 'v.ckd'), { type: '3390', cylinders: 5, volser: 'INFL01' });
    try {
      fillVolume(volume, { seed: 4, percent: 100 });
      // Every read in line, or every read on the pool (base/io-placement.ts): the test checks both ways.
      const placement = slotFileOf(volume).readPlacement;
      placement.fix(place);
      const flat = volume.readFlat(0, volume.flatSizeBytes);
      server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'v' })] });
      const { port } = await server.listen();
      const client = await NbdClient.connect({ port, exportName: 'v' });
      const rng = new SeededRandom(5);
      try {
        const checks: Promise<void>[] = [];
        for (let i = 0; i < 200; i++) {
          const length = 1 + rng.int(300_000);
          const at = rng.int(flat.length - length);
          if (i % 10 === 9) {
            const data = rng.bytes(length);
            data.copy(flat, at);
            checks.push(client.write(at, data));
          } else {
            const expected = Buffer.from(flat.subarray(at, at + length));
            checks.push(client.read(at, length).then((got) => expect(got.equals(expected), `read ${at}+${length}`).toBe(true)));
          }
        }
        await Promise.all(checks);
        expect(volume.readFlat(0, volume.flatSizeBytes).equals(flat)).toBe(true);
        expect(placement.counts[place], `reads ran ${place}`).toBeGreaterThan(0);
      } finally {
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
