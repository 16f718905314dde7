/**
 * Layer: deterministic race of host writes against the copy loop (issue 11 acceptance). A tape
 * backup of a CCKD volume is taken while random host writes of every kind (format, update, whole
 * image, raw flat) run; the CCKD backend has no file location, so the session copies on the main
 * thread between the host writes. The restored volume must equal, byte for byte, `cckd2ckd` of a
 * copy of the CCKD file taken at the start instant; and the live CCKD file must pass cckdcdsk.
 * Replay a failure with SNAPTAPE_SEED=<seed printed>.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { compareImages } from '../../src/api/drill-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { convertImage } from '../../src/image/image-convert.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume, Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { runTool } from '../harness/external-tools.js';
import { fcSeed } from '../harness/fc-seed.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { expectCckdcdskAgrees } from './cckd-helpers.js';

/** Independent runs; each a few hundred host writes against a 4-cylinder volume. */
const RUNS = 10;
let pool: CopyPool;
beforeAll(() => {
  pool = new CopyPool(1);
});
afterAll(async () => {
  await pool.close();
});

async function oneRun(seed: number): Promise<{ mismatched: number; direct: number; outOfOrder: number; writes: number }> {
  const dir = makeTempDir();
  try {
    const prng = new Prng(seed);
    const source = makeFilledVolume(dir.path, { cylinders: 4, seed });
    source.close();
    const cckd = join(dir.path, 'live.cckd');
    convertImage(source.path, cckd, { format: 'cckd', compression: 'zlib' });
    const volume = openVolume(cckd);
    const reference = join(dir.path, 'reference.cckd');
    const tape = join(dir.path, 'backup.aws');
    // No write has happened since open, so the file on disk is the volume: the start instant.
    copyFileSync(cckd, reference);
    const session = TapeBackupSession.start(volume, { tapePath: tape, pool });
    let writes = 0;
    await new Promise<void>((resolve, reject) => {
      const step = (): void => {
        if (session.state !== 'running' || writes >= 400) return resolve();
        try {
          randomHostWrite(volume, prng.below(volume.ckd.trackCount), prng);
          writes++;
        } catch (error) {
          return reject(error);
        }
        setImmediate(step);
      };
      setImmediate(step);
    });
    const summary = await session.done;
    volume.close();
    expectCckdcdskAgrees(cckd, dir.path);
    const restored = join(dir.path, 'restored.ckd');
    restoreTape(tape, { to: restored, newVolume: true });
    const referenceCkd = join(dir.path, 'reference.ckd');
    expect(runTool('cckd2ckd', ['-q', reference, referenceCkd], { cwd: dir.path }).status).toBe(0);
    return {
      mismatched: compareImages(referenceCkd, restored).mismatched,
      direct: compareImages(reference, restored).mismatched,
      outOfOrder: summary.copiedOutOfOrder,
      writes,
    };
  } finally {
    dir.cleanup();
  }
}

describe('tape backup of a CCKD volume under live writes', () => {
  it(`restores byte-exact (after cckd2ckd) to the start instant over ${RUNS} seeded runs`, async () => {
    const seed = fcSeed('cckd-backup');
    let outOfOrder = 0;
    for (let run = 0; run < RUNS; run++) {
      const result = await oneRun(seed + run);
      expect(result.mismatched, `run seed ${seed + run}: tracks differing from the start instant`).toBe(0);
      expect(result.direct, `run seed ${seed + run}: tracks differing from the CCKD reference read by snaptape`).toBe(0);
      outOfOrder += result.outOfOrder;
    }
    // The writes must really have raced the copy, or the test says nothing.
    expect(outOfOrder).toBeGreaterThan(0);
  }, 60_000);
});
