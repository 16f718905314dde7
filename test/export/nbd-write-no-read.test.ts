/**
 * Layer: scenario. An NBD write to a CKD volume reads nothing back from the volume (issue 22,
 * point 3): the size table V is kept from the bytes written, not by re-reading the track. A
 * counting backend under the volume counts every read; an NbdClient writes through the real
 * server at offsets that cut track slots (as nbdcopy's 256 KiB requests do on 56,832-byte slots).
 *
 * The table must stay true as well: after the writes it equals a fresh scan of the image (for
 * writes of non-zero bytes, where the written extent is exact), and every byte past V is zero.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { openImage } from '../../src/image/open-image.js';
import { TrackSizeTable } from '../../src/volume/track-size-table.js';
import { Volume } from '../../src/volume/volume.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';
import { ReadCountingBackend } from '../harness/read-counting-backend.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { SeededRandom } from './helpers/seeded-random.js';

const CYLINDERS = 10;
/** nbdcopy's default request size: not a multiple of a 3390 slot, so most requests cut two slots. */
const REQUEST_BYTES = 256 * 1024;

let dir: TempDir;
let server: NbdServer | undefined;
beforeEach(() => {
  dir = makeTempDir('snaptape-nbd-noread-');
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  dir.cleanup();
});

/** A dense 3390 opened over a counting backend, its size table loaded (so loading reads nothing later). */
function countingVolume(): { volume: Volume; backend: ReadCountingBackend } {
  const path = join(dir.path, 'dense.ckd');
  const made = createVolume(path, { type: '3390', cylinders: CYLINDERS, volser: 'DENSE1' });
  fillVolume(made, { seed: 3, percent: 100 });
  made.close();
  const backend = new ReadCountingBackend(openImage(path));
  const volume = new Volume(backend);
  volume.trackSizes();
  return { volume, backend };
}

/** Every byte of every slot past its V is zero, and V equals a fresh scan where `exact`. */
function expectTableTrue(volume: Volume, exact: boolean): void {
  const sizes = volume.trackSizes();
  const scanned = TrackSizeTable.scan(volume.imageBackend, volume.ckd);
  const slotBytes = volume.backend.slotBytes;
  const wrong: string[] = [];
  for (let t = 0; t < volume.ckd.trackCount; t++) {
    const slot = volume.imageBackend.readUnit(t, slotBytes);
    if (slot.subarray(sizes.get(t)).some((b) => b !== 0)) wrong.push(`track ${t}: non-zero bytes past V ${sizes.get(t)}`);
    if (exact && sizes.get(t) !== scanned.get(t)) wrong.push(`track ${t}: V ${sizes.get(t)}, a scan says ${scanned.get(t)}`);
  }
  expect(wrong).toEqual([]);
}

describe('NBD writes to a CKD volume', () => {
  it('read nothing back from the volume, and keep the size table true', async () => {
    const { volume, backend } = countingVolume();
    const export_ = new VolumeBackend(volume, { name: 'dense' });
    // The volume's own flat bytes, to write back in nbdcopy-sized requests (tracks stay decodable).
    const flat = volume.imageBackend.readUnits(0, volume.unitCount);
    server = new NbdServer({ exports: [export_] });
    const { port } = await server.listen();
    const client = await NbdClient.connect({ port, exportName: 'dense' });
    const rng = new SeededRandom(22);
    try {
      backend.unitsRead = 0;
      for (let at = 0; at < flat.length; at += REQUEST_BYTES) {
        await client.write(at, flat.subarray(at, Math.min(flat.length, at + REQUEST_BYTES)));
      }
      // Random non-zero bytes at random places: tracks that no longer decode.
      for (let i = 0; i < 40; i++) {
        const length = 1 + rng.int(3 * volume.backend.slotBytes);
        const at = rng.int(flat.length - length);
        const data = Buffer.from(rng.bytes(length).map((b) => b | 1));
        await client.write(at, data);
      }
      expect(backend.unitsRead).toBe(0);
      expectTableTrue(volume, true);
      backend.unitsRead = 0; // the check itself read every slot
      // Zeros: V may stay above the last non-zero byte, but never below it.
      for (let i = 0; i < 20; i++) {
        const length = 1 + rng.int(2 * volume.backend.slotBytes);
        await client.writeZeroes(rng.int(flat.length - length), length);
        await client.write(rng.int(flat.length - length), Buffer.alloc(length));
      }
      expect(backend.unitsRead).toBe(0);
      expectTableTrue(volume, false);
    } finally {
      await client.disconnect();
      volume.close();
    }
  });
});
