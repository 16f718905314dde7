/**
 * Layer: property. A zero fill of an export (NBD_CMD_WRITE_ZEROES) writes only below each CKD
 * track's size table V. Random requests over a CKD and an FBA export, in flight a few at a time
 * (never two over the same bytes, as NBD asks of a client): data past tracks' end markers, written
 * zeros, zero fills starting and ending mid-slot over one slot or many, small and large (the
 * server's in-flight and stepped paths). The export must read back as a shadow of the requests,
 * and V must still cover every non-zero byte of a track (the invariant the mirror's sparse copies
 * rest on). Replay with SNAPTAPE_SEED.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../src/base/prng.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { nonZeroExtent } from '../../src/volume/track-size-table.js';
import { createVolume } from '../../src/volume/open-volume.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { seedFromEnv } from '../mirror/mirror-fixtures.js';

const REQUESTS = 300;
/** Requests sent before their answers are awaited (none of them overlaps another). */
const IN_FLIGHT = 4;

let dir: TempDir | undefined;
let server: NbdServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  dir?.cleanup();
  dir = undefined;
});

/** One random request over `[first, size)` of the export, applied to `shadow` too. */
function request(client: NbdClient, shadow: Buffer, prng: Prng, first: number, unit: number): { start: number; end: number; sent: () => Promise<void> } {
  const size = shadow.length;
  const start = first + prng.below(size - first);
  const pick = prng.below(4);
  if (pick === 0 || pick === 1) {
    const data = Buffer.alloc(Math.min(size - start, 1 + prng.below(pick === 0 ? 3000 : unit)));
    prng.fill(data);
    data.copy(shadow, start);
    return { start, end: start + data.length, sent: () => client.write(start, data) };
  }
  const length = Math.min(size - start, 1 + prng.below(pick === 2 ? unit : 40 * unit));
  shadow.fill(0, start, start + length);
  if (prng.below(3) === 0) return { start, end: start + length, sent: () => client.write(start, Buffer.alloc(length)) };
  return { start, end: start + length, sent: () => client.writeZeroes(start, length) };
}

async function exercise(volume: Volume, seed: number, first: number): Promise<void> {
  const prng = new Prng(seed);
  server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'v' })] });
  const { port } = await server.listen();
  const client = await NbdClient.connect({ port, exportName: 'v' });
  const unit = volume.backend.slotBytes;
  try {
    const shadow = await client.read(0, client.info.sizeBytes);
    for (let done = 0; done < REQUESTS;) {
      const batch: { start: number; end: number; sent: () => Promise<void> }[] = [];
      // Bounded: each turn adds a request or ends the batch.
      while (batch.length < IN_FLIGHT && done < REQUESTS) {
        const copy = Buffer.from(shadow);
        const r = request(client, shadow, prng, first, unit);
        if (batch.some((b) => b.start < r.end && r.start < b.end)) {
          copy.copy(shadow); // overlaps one in flight: undone, and the batch goes first
          break;
        }
        batch.push(r);
        done++;
      }
      await Promise.all(batch.map((r) => r.sent()));
    }
    await client.flush();
    expect((await client.read(0, shadow.length)).equals(shadow)).toBe(true);
  } finally {
    await client.disconnect();
    await server.close();
    server = undefined;
  }
  await volume.writesLanded();
  if (volume.geometry.kind === 'ckd') {
    const sizes = volume.trackSizes();
    const uncovered: number[] = [];
    for (let t = 0; t < volume.ckd.trackCount; t++) if (nonZeroExtent(volume.backend.readUnit(t, unit)) > sizes.get(t)) uncovered.push(t);
    expect(uncovered).toEqual([]);
  }
}

describe('a zero fill of an export, mixed with writes', () => {
  it('keeps a CKD export identical to its requests and V over every non-zero byte', async () => {
    const seed = seedFromEnv('nbd zero fill property');
    dir = makeTempDir('snaptape-nbd-zero-prop-');
    const path = join(dir.path, 'v.ckd');
    const volume = createVolume(path, { type: '3390', cylinders: 6, volser: 'ZERO01' });
    for (let t = 15; t < volume.ckd.trackCount; t += 2)
      volume.writeTrackRecords(t, [
        { key: Buffer.alloc(0), data: Buffer.alloc(2000, 0x41) },
        { key: Buffer.alloc(0), data: Buffer.alloc(1500 + t, 0x42) },
      ]);
    try {
      // Cylinder 0 (label, VTOC) stays as it is.
      await exercise(volume, seed, 15 * volume.backend.slotBytes);
    } finally {
      volume.close();
    }
  });

  it('keeps an FBA export identical to its requests', async () => {
    const seed = seedFromEnv('nbd zero fill property (FBA)');
    dir = makeTempDir('snaptape-nbd-zero-prop-');
    const volume = createVolume(join(dir.path, 'v.fba'), { type: 'fba', blocks: 4096, volser: 'ZERO02' });
    try {
      await exercise(volume, seed, 0);
    } finally {
      volume.close();
    }
  });
});
