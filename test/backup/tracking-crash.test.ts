/**
 * Change tracking killed at random moments (issue 23 acceptance): a child process holds a tracked
 * volume and writes whole tracks, acknowledging each; half the runs also run an incremental backup
 * meanwhile. The test SIGKILLs it at a seeded point, then, in this process, reopens the volume and
 * makes the next incremental, taking a reference copy at its start instant. Every run's incremental
 * must be either correct (the chain full + it restores equal to the reference) or refused with its
 * reason; never silently incomplete. Every fourth run also writes the image behind the tracker's
 * back after the crash, which must be refused. SNAPTAPE_CRASH_RUNS sets the number of runs; replay
 * a run with SNAPTAPE_SEED=<seed printed>.
 */
import { closeSync, copyFileSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/api/volume-api.js';
import { Prng } from '../../src/base/prng.js';
import { SessionError } from '../../src/errors/snaptape-error.js';
import { restoreChain } from '../../src/techniques/restore/restore-chain.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { ChangeTracker } from '../../src/techniques/tracking/change-tracker.js';
import { crashRuns, runAndKill } from '../harness/crash-child.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { fcSeed } from '../harness/fc-seed.js';
import { makeTempDir } from '../harness/temp-dir.js';

const RUNS = crashRuns(20);
const CHILD = fileURLToPath(new URL('./helpers/tracking-crash-child.mjs', import.meta.url));
const FIRST_TRACK = 15;
const LAST_TRACK = 44;
let pool: CopyPool;

beforeAll(() => {
  pool = new CopyPool(1);
});
afterAll(async () => {
  await pool.close();
});

describe(`change tracking killed at random moments (${RUNS} SIGKILLed runs)`, () => {
  it('makes every next incremental correct or refuses it with the reason, never silently incomplete', async () => {
    const seed = fcSeed('tracking-crash');
    const prng = new Prng(seed);
    const counts = { kills: 0, correct: 0, refused: 0, mismatched: 0, bypassRuns: 0, bypassRefused: 0, crashedTapeComplete: 0 };
    for (let run = 0; run < RUNS; run++) {
      const mode = run % 2 === 0 ? 'workload' : 'incremental';
      const bypass = run % 4 === 3;
      const dir = makeTempDir();
      try {
        const volume = makeFilledVolume(dir.path, { cylinders: 3, seed: seed + run, percent: 60 });
        const source = volume.path;
        ChangeTracker.enable(volume);
        const full = join(dir.path, 'full.aws');
        await TapeBackupSession.start(volume, { tapePath: full, pool }).done;
        volume.close();
        const killAt = mode === 'workload' ? 1 + prng.below(150) : { progress: prng.below(90) / 100 };
        const log = await runAndKill(CHILD, [mode, source, join(dir.path, 'crashed.aws'), String(seed + run), String(FIRST_TRACK), String(LAST_TRACK)], killAt);
        if (!log.finished) counts.kills++;
        if (bypass) {
          // Another tool writes the image after the crash, later than the tracker's last stamp.
          counts.bypassRuns++;
          await delay(400);
          const fd = openSync(source, 'r+');
          writeSync(fd, Buffer.from('behind the tracker'), 0, 18, 30 * 56832 + 100);
          closeSync(fd);
        }
        const reopened = openVolume(source);
        const reference = join(dir.path, 'reference.ckd');
        const next = join(dir.path, 'next.aws');
        let session: TapeBackupSession | undefined;
        try {
          // The reference and the start are one synchronous stretch: the start instant.
          copyFileSync(source, reference);
          session = TapeBackupSession.start(reopened, { tapePath: next, pool, incremental: true });
        } catch (error) {
          reopened.close();
          expect(error, `run ${run}: a refusal is a SessionError with its reason`).toBeInstanceOf(SessionError);
          expect((error as Error).message).toMatch(/written .* after its tracker|modified while no tracker/);
          counts.refused++;
          if (bypass) counts.bypassRefused++;
          continue;
        }
        const summary = await session.done;
        reopened.close();
        // A killed incremental that had completed its tape (the kill came after) is the next one's base.
        const chain = summary.chain?.base?.checkpoint === 'crashed.aws' ? [full, join(dir.path, 'crashed.aws'), next] : [full, next];
        if (chain.length === 3) counts.crashedTapeComplete++;
        restoreChain(chain, { to: join(dir.path, 'restored.ckd'), newVolume: true });
        const { mismatched } = compareImages(reference, join(dir.path, 'restored.ckd'));
        counts.mismatched += mismatched;
        expect(mismatched, `run ${run} (${mode}): tracks of the restored chain differing from the instant`).toBe(0);
        counts.correct++;
      } finally {
        dir.cleanup();
      }
    }
    console.log(
      `tracking crash: ${RUNS} runs, ${counts.kills} killed before finishing, next incremental correct ${counts.correct}, refused with the reason ${counts.refused} (${counts.bypassRefused} of ${counts.bypassRuns} written behind the tracker), ${counts.crashedTapeComplete} based on a killed incremental whose tape had completed, mismatches printed: ${counts.mismatched}`,
    );
    expect(counts.correct + counts.refused).toBe(RUNS);
    expect(counts.bypassRefused).toBe(counts.bypassRuns);
    expect(counts.kills).toBeGreaterThanOrEqual(Math.floor(RUNS * 0.9));
  }, 600_000);
});
