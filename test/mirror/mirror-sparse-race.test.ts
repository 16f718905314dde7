/**
 * Layer: property. A local mirror secondary is written only where a track may differ (the primary's
 * size table V and the secondary's own): host writes that grow, shrink and zero tracks race the
 * initial copy and a resync, a split secondary is written past its tracks' end markers (and its size
 * store removed once); every time the mirror says "in sync" the secondary must be byte-identical.
 * Replay with SNAPTAPE_SEED.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../src/base/prng.js';
import { sizeStorePath } from '../../src/image/size-store-path.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { createVolume, openVolume } from '../../src/volume/open-volume.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { filesIdentical, randomSparseWriteOf, seedFromEnv } from './mirror-fixtures.js';

const CYLINDERS = 4;
const HEADS = 15;
const RUNS = 6;

async function tick(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

/** Garbage on a secondary past its tracks' end markers: raw bytes near the end of slots. */
function garbage(volume: Volume, prng: Prng, count: number): void {
  const slot = volume.backend.slotBytes;
  for (let i = 0; i < count; i++) {
    const track = HEADS + prng.below(volume.unitCount - HEADS);
    const data = Buffer.alloc(1 + prng.below(8000));
    prng.fill(data);
    volume.writeFlat(track * slot + slot - data.length - prng.below(20000), data);
  }
}

describe('a sparse local mirror secondary under racing writes', () => {
  it('is identical whenever the mirror says it is in sync', async () => {
    const base = seedFromEnv('mirror sparse race');
    const dir = makeTempDir('snaptape-mirror-sparse-race-');
    let mismatches = 0;
    try {
      for (let run = 0; run < RUNS; run++) {
        const prng = new Prng(base + run);
        const primaryPath = join(dir.path, `prim${run}.ckd`);
        const secondaryPath = join(dir.path, `sec${run}.ckd`);
        const primary = createVolume(primaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'PRIM01' });
        for (let i = 0; i < 40; i++) randomSparseWriteOf(primary, prng);
        const old = createVolume(secondaryPath, { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' });
        for (let i = 0; i < 40; i++) randomSparseWriteOf(old, prng);
        garbage(old, prng, 20);
        old.close();
        const mirror = MirrorSession.create(primary, [secondaryPath], { force: true });
        try {
          for (let round = 0; round < 3; round++) {
            // Writes race the copy (the initial one, then a resync).
            for (let i = 0; i < 30; i++) {
              randomSparseWriteOf(primary, prng);
              await tick();
            }
            await mirror.whenInSync({ timeoutMs: 30_000 });
            primary.sync();
            if (!filesIdentical(primaryPath, secondaryPath)) mismatches++;
            mirror.split();
            const split = openVolume(secondaryPath, { readOnly: false });
            for (let i = 0; i < 10; i++) randomSparseWriteOf(split, prng);
            garbage(split, prng, 10);
            split.close();
            // A size store removed while the secondary is closed: the rejoin rebuilds V by a scan.
            if (round === 1) rmSync(sizeStorePath(secondaryPath));
            for (let i = 0; i < 10; i++) randomSparseWriteOf(primary, prng);
            mirror.rejoin();
          }
          await mirror.whenInSync({ timeoutMs: 30_000 });
        } finally {
          await mirror.remove();
          primary.sync();
          primary.close();
        }
        if (!filesIdentical(primaryPath, secondaryPath)) mismatches++;
      }
    } finally {
      dir.cleanup();
    }
    expect(mismatches).toBe(0);
  }, 120_000);
});
