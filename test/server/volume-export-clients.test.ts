/**
 * 16 concurrent NBD clients on a served CKD volume (VolumeBackend), each pipelining random reads and
 * writes in its own tracks, checked against a plain-Buffer model of the flat view — while a tape
 * backup of the same volume runs, so the writes go through copy-before-write. At the end the
 * volume equals the model, and the tape restores to the volume as it was when the backup started.
 * The seed is printed; SNAPTAPE_SEED=<seed> replays a run.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { compareImages } from '../../src/api/drill-api.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { SeededRandom, testSeed } from '../export/helpers/seeded-random.js';

const CLIENTS = 16;
const TRACKS_PER_CLIENT = 4;
const OPS_PER_CLIENT = 120;
const PIPELINE_DEPTH = 6;
const MAX_OP_BYTES = 16 * 1024;

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => dir.cleanup());

describe('16 NBD clients on a served volume under backup', () => {
  it('each client reads back what the model says, the volume equals the model, the tape equals the start instant', async () => {
    const seed = testSeed();
    console.log(`volume-export-clients seed ${seed} (replay with SNAPTAPE_SEED=${seed})`);
    const volume = createVolume(join(dir.path, 'served.ckd'), { type: '3390', cylinders: 6, volser: 'NBD001' });
    fillVolume(volume, { seed, percent: 80 });
    const slot = volume.backend.slotBytes;
    const model = volume.readFlat(0, volume.flatSizeBytes);
    const reference = join(dir.path, 'reference.ckd');
    copyFileSync(volume.path, reference);
    const session = TapeBackupSession.start(volume, { tapePath: join(dir.path, 'served.aws'), workers: 1, throttleMbps: 5 });
    const server = new NbdServer({ exports: [new VolumeBackend(volume, { name: 'served' })] });
    const { port } = await server.listen();
    try {
      // Client c owns tracks [firstTrack, firstTrack + TRACKS_PER_CLIENT), past cylinder 0.
      const firstTrack = (c: number): number => volume.ckd.heads + c * TRACKS_PER_CLIENT;
      let mismatches = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          const rng = new SeededRandom((seed + c * 0x9e3779b1) >>> 0);
          const client = await NbdClient.connect({ port, exportName: 'served' });
          const base = firstTrack(c) * slot;
          const span = TRACKS_PER_CLIENT * slot;
          const inFlight = new Set<Promise<void>>();
          for (let i = 0; i < OPS_PER_CLIENT; i++) {
            const length = 1 + rng.int(MAX_OP_BYTES);
            const offset = base + rng.int(span - length);
            let op: Promise<void>;
            if (rng.int(2) === 0) {
              const data = rng.bytes(length);
              data.copy(model, offset); // one connection's requests run in order: the model is exact
              op = client.write(offset, data);
            } else {
              const expected = Buffer.from(model.subarray(offset, offset + length));
              op = client.read(offset, length).then((got) => {
                if (!got.equals(expected)) mismatches++;
              });
            }
            inFlight.add(op);
            void op.finally(() => inFlight.delete(op));
            if (inFlight.size >= PIPELINE_DEPTH) await Promise.race(inFlight);
          }
          await Promise.all(inFlight);
          await client.disconnect();
        }),
      );
      expect(mismatches, 'reads that differ from the model').toBe(0);
      expect(volume.readFlat(0, volume.flatSizeBytes).equals(model), 'the volume equals the model').toBe(true);
      const summary = await session.done;
      expect(summary.copiedOutOfOrder, 'client writes raced the copy').toBeGreaterThan(0);
    } finally {
      await server.close();
      volume.close();
    }
    const restored = join(dir.path, 'restored.ckd');
    restoreTape(join(dir.path, 'served.aws'), { to: restored, newVolume: true });
    expect(compareImages(reference, restored).mismatched).toBe(0);
  }, 120_000);
});
