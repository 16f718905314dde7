/**
 * Layer: behaviour. A zero fill (NBD_CMD_WRITE_ZEROES) of a CKD export writes only the bytes of
 * each track slot that its size table V says may be non-zero: past V the slot already holds zeros,
 * so a zero fill over empty tracks allocates nothing in the image (a remote mirror's zero tails keep
 * a sparse secondary sparse), while a zero fill over written tracks still zeroes them. Both paths
 * of the server are run: a fill of at most one chunk (in flight, `writeZeroesAsync`) and a larger
 * one (in steps, `writeZeroes`). The room on disk is read from the file's allocated blocks (stat).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { ZERO_FILL_CHUNK_BYTES } from '../../src/export/nbd-constants.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { createVolume } from '../../src/volume/open-volume.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const CYLINDERS = 10;
const HEADS = 15;

let dir: TempDir;
let server: NbdServer | undefined;
beforeEach(() => {
  dir = makeTempDir('snaptape-nbd-zero-sparse-');
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  dir.cleanup();
});

function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}

async function served(volume: Volume): Promise<NbdClient> {
  server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'sparse' })] });
  const { port } = await server.listen();
  return NbdClient.connect({ port, exportName: 'sparse' });
}

describe('a zero fill of a CKD export', () => {
  it('allocates nothing over empty tracks, in chunks and in one large request', async () => {
    const path = join(dir.path, 'empty.ckd');
    const volume = createVolume(path, { type: '3390', cylinders: CYLINDERS, volser: 'EMPTY1' });
    volume.sync();
    const before = allocatedBytes(path);
    const client = await served(volume);
    const slot = volume.backend.slotBytes;
    try {
      // Past cylinder 0 (its label and VTOC tracks hold data): chunks, as a mirror's zero tails come.
      const start = HEADS * slot;
      const end = client.info.sizeBytes;
      for (let at = start; at < end; at += ZERO_FILL_CHUNK_BYTES) await client.writeZeroes(at, Math.min(ZERO_FILL_CHUNK_BYTES, end - at));
      // One request over every track past cylinder 0: the server's stepped path.
      await client.writeZeroes(start, end - start);
      await client.flush();
      const after = allocatedBytes(path);
      process.stdout.write(`allocated: ${before} before, ${after} after, of ${end} in slots\n`);
      expect(after).toBeLessThanOrEqual(before + 64 * 1024);
      const back = await client.read(start, 4 * slot);
      expect(back.equals(Buffer.alloc(4 * slot))).toBe(true);
    } finally {
      await client.disconnect();
      volume.close();
    }
  });

  it('still zeroes written tracks, and their size table follows', async () => {
    const path = join(dir.path, 'written.ckd');
    const volume = createVolume(path, { type: '3390', cylinders: CYLINDERS, volser: 'WRIT01' });
    for (let t = HEADS; t < HEADS + 6; t++) volume.writeTrackRecords(t, [{ key: Buffer.alloc(0), data: Buffer.alloc(20_000, 0x5a) }]);
    const client = await served(volume);
    const slot = volume.backend.slotBytes;
    try {
      // A chunk from the middle of track 15's records to the end of track 17; then tracks 18-20 whole in one large request.
      await client.writeZeroes(HEADS * slot + 1000, 3 * slot - 1000);
      await client.writeZeroes((HEADS + 3) * slot, ZERO_FILL_CHUNK_BYTES + slot);
      const back = await client.read(HEADS * slot, 6 * slot);
      expect(back.subarray(1000).equals(Buffer.alloc(6 * slot - 1000))).toBe(true);
      expect(back.subarray(0, 1000).some((b) => b !== 0)).toBe(true);
      const sizes = volume.trackSizes();
      expect(sizes.get(HEADS)).toBeLessThanOrEqual(1000);
      // The chunk's whole tracks; the large request runs in steps, where V may stay at a step's edge.
      for (let t = HEADS + 1; t < HEADS + 3; t++) expect(sizes.get(t)).toBe(0);
    } finally {
      await client.disconnect();
      volume.close();
    }
  });
});
