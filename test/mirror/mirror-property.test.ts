/**
 * Layer: property. Issue 20: the mirror never says "in sync" over data that differs. Each run
 * mirrors a small primary onto three local secondaries (M2..M4) and mixes, at random: host writes
 * to the primary (raw bytes past end markers, sparse tracks, writes and zero fills that shrink a
 * track: a secondary is written only where the size tables say a track may differ), splits,
 * writes to split secondaries, writes to secondaries that are not split (which must be refused),
 * rejoins, and link drops (every link drops at once: the server stops and the mirror resumes; the
 * primary's size store may be gone then, and V is rebuilt by a scan). Background copies
 * interleave with all of it. At the end of each run, every mirror that status calls in sync must
 * compare identical to the primary, block for block; then every mirror is rejoined and must reach
 * sync and compare identical. Replay with SNAPTAPE_SEED.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { compareImages } from '../../src/api/drill-api.js';
import { LockedError } from '../../src/errors/snaptape-error.js';
import { sizeStorePath } from '../../src/image/size-store-path.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { Prng, makeBlankSecondary, randomHostWriteOf, randomSparseWriteOf, seedFromEnv } from './mirror-fixtures.js';

const RUNS = 30;
const STEPS = 25;
const CYLS = 2;
const NAMES = ['M2', 'M3', 'M4'] as const;

async function tick(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe('mirror property: in sync means identical', () => {
  it(`holds over ${RUNS} randomised runs of writes, splits, secondary writes, rejoins and link drops`, async () => {
    const base = seedFromEnv('mirror property');
    let mismatches = 0;
    let inSyncChecked = 0;
    let refused = 0;
    let secondaryWrites = 0;
    const dir = makeTempDir('snaptape-mirror-prop-');
    try {
      for (let run = 0; run < RUNS; run++) {
        const prng = new Prng(base + run);
        const runDir = `${dir.path}/run${run}`;
        mkdirSync(runDir);
        let primary = makeFilledVolume(runDir, { cylinders: CYLS, seed: base + run, percent: 40 });
        const paths = NAMES.map((n) => makeBlankSecondary(runDir, `${n}.ckd`, CYLS));
        let mirror = MirrorSession.create(primary, paths);
        for (let step = 0; step < STEPS; step++) {
          const pick = prng.below(100);
          const i = prng.below(NAMES.length);
          const name = NAMES[i] as string;
          const state = mirror.status().mirrors[i]?.state;
          if (pick < 25) randomHostWriteOf(primary, prng);
          else if (pick < 45) randomSparseWriteOf(primary, prng);
          else if (pick < 55 && state === 'ONGOING') mirror.split(name);
          else if (pick < 70) {
            // A write to a secondary: taken (and recorded) when split, refused otherwise.
            let secondary: Volume | undefined;
            try {
              secondary = openVolume(paths[i] as string);
              randomHostWriteOf(secondary, prng);
              expect(state).toBe('BACKUP');
              secondaryWrites++;
            } catch (error) {
              expect(error).toBeInstanceOf(LockedError);
              expect(state).not.toBe('BACKUP');
              refused++;
            } finally {
              secondary?.close();
            }
          } else if (pick < 82 && state === 'BACKUP') mirror.rejoin(name);
          else if (pick < 87) {
            // Every link drops: the server stops (clean detach) and starts again.
            await mirror.detach();
            primary.close();
            // Now and then the primary's size store is gone too.
            if (prng.below(2) === 0) rmSync(sizeStorePath(primary.path), { force: true });
            primary = openVolume(primary.path);
            mirror = MirrorSession.resume(primary);
          } else if (pick < 92 && state !== 'BACKUP') await mirror.whenInSync({ mirror: name, timeoutMs: 20_000 });
          await tick();
        }
        primary.sync();
        for (const [k, m] of mirror.status().mirrors.entries()) {
          if (!m.inSync) continue;
          inSyncChecked++;
          if (compareImages(primary.path, paths[k] as string).mismatched !== 0) mismatches++;
        }
        // Every mirror rejoined ends identical.
        const split = mirror
          .status()
          .mirrors.filter((m) => m.state === 'BACKUP')
          .map((m) => m.mirror);
        for (const name of split) mirror.rejoin(name);
        await mirror.whenInSync({ timeoutMs: 30_000 });
        primary.sync();
        for (const path of paths) if (compareImages(primary.path, path).mismatched !== 0) mismatches++;
        await mirror.remove();
        primary.close();
      }
    } finally {
      dir.cleanup();
    }
    console.log(
      `mirror property: ${RUNS} runs, ${inSyncChecked} in-sync mirrors compared, ${secondaryWrites} split-secondary writes, ${refused} refused writes, ${mismatches} mismatches`,
    );
    expect(secondaryWrites).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(mismatches).toBe(0);
  }, 240_000);
});
