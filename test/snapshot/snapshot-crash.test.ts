/**
 * Layer: scenario with injected faults. Crash during copy-on-write (issue 6 acceptance): in 20
 * runs a child process writes whole tracks to a fresh snapshot target (every first write to a
 * track is a copy-on-write of a slot shared with the source) and acknowledges each write on
 * stdout; the test SIGKILLs it at a random moment. Then:
 * - the pool refuses writers until `subsystem check --repair` (it was left open);
 * - after the repair the check is clean, and a second check finds nothing;
 * - every acknowledged write is there (or the one write in flight, which may have completed);
 * - the source still equals its state at the snapshot: no slot is shared that should not be.
 * Replay with SNAPTAPE_SEED=<seed printed>.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { ImageFormatError } from '../../src/errors/snaptape-error.js';
import { checkSubsystem } from '../../src/subsystem/subsystem-check.js';
import { defineSnapshot, executeSnapshot } from '../../src/techniques/snapshot/snapshot-protocol.js';
import { fcSeed } from '../harness/fc-seed.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { DATA_FIRST_TRACK, makeSubsystem, readAllSlots } from './helpers/subsystem-fixtures.js';
import { Prng } from '../../src/base/prng.js';
import { crashRuns, MIN_KILLED_SHARE, recordCrashFigures, runAndKill, type CrashLog } from '../harness/crash-child.js';

const RUNS = crashRuns(20);
const WRITES_PER_CHILD = 400;
const WRITER = fileURLToPath(new URL('./helpers/crash-writer.mjs', import.meta.url));

function payload(n: number): Buffer {
  const data = Buffer.alloc(200 + ((n * 37) % 3000), n & 0xff);
  data.writeUInt32BE(n, 0);
  return data;
}

/** Runs the writer and kills it after `killAfterAcks` acknowledgements (test/harness/crash-child.ts). */
function runWriterAndKill(target: string, seed: number, killAfterAcks: number): Promise<CrashLog> {
  return runAndKill(WRITER, [target, String(seed), String(WRITES_PER_CHILD), String(DATA_FIRST_TRACK), '29'], killAfterAcks);
}

describe(`crash during copy-on-write (${RUNS} SIGKILLed writers)`, () => {
  it(
    'after check --repair no acknowledged write is lost and no slot is wrongly shared',
    async () => {
      const seed = fcSeed('snapshot-crash');
      const prng = new Prng(seed);
      let refusedBeforeRepair = 0;
      let lost = 0;
      let falselyClean = 0;
      let kills = 0;
      for (let run = 0; run < RUNS; run++) {
        const dir = makeTempDir();
        try {
          const { sub, source } = makeSubsystem(dir.path, { seed: seed + run });
          const target = `${sub}/TGT`;
          executeSnapshot(defineSnapshot(source, target, { volser: 'TGT001' }).token);
          const sourceBefore = slotsOf(source);
          const log = await runWriterAndKill(target, seed + run, 1 + prng.below(25));
          if (!log.finished) kills++;
          try {
            openVolume(target).close();
          } catch (error) {
            expect(error).toBeInstanceOf(ImageFormatError);
            refusedBeforeRepair++;
          }
          const repair = checkSubsystem(sub, { repair: true });
          expect(repair.repaired).toBe(true);
          const again = checkSubsystem(sub);
          expect(again.clean, `run ${run}: check after repair`).toBe(true);
          expect(again.miscounted).toBe(0);
          const volume = openVolume(target, { readOnly: true });
          try {
            for (const [track, n] of log.acked) {
              const data = volume.readTrack(track).records[0]?.data;
              const inFlight = log.inFlight;
              const ok = data !== undefined && (data.equals(payload(n)) || (inFlight !== null && inFlight.unit === track && data.equals(payload(inFlight.n))));
              if (!ok) lost++;
              expect(ok, `run ${run} (seed ${seed + run}): track ${track} keeps acknowledged write ${n}`).toBe(true);
            }
          } finally {
            volume.close();
          }
          const sourceAfter = slotsOf(source);
          // A check that calls the pool clean while the source lost its snapshot instant would be a false completion.
          if (sourceAfter.some((slot, t) => !slot.equals(sourceBefore[t]!))) falselyClean++;
          sourceAfter.forEach((slot, t) => expect(slot.equals(sourceBefore[t]!), `run ${run}: source track ${t} unchanged`).toBe(true));
          // The volumes stay writable after the repair.
          const writable = openVolume(target);
          writable.writeTrackRecords(DATA_FIRST_TRACK, [{ key: Buffer.alloc(0), data: Buffer.from('after') }]);
          writable.close();
          expect(checkSubsystem(sub).clean).toBe(true);
        } finally {
          dir.cleanup();
        }
      }
      // A kill leaves the pool open, so a writer is refused until the repair (every run that got as far as opening it).
      expect(refusedBeforeRepair).toBe(RUNS);
      recordCrashFigures({
        technique: 'instant snapshot (copy-on-write)',
        runs: RUNS,
        killDraws: RUNS,
        kills,
        ackedWritesLost: lost,
        falselyComplete: falselyClean,
      });
      expect(kills, `${kills} of ${RUNS} writers were killed before they finished`).toBeGreaterThanOrEqual(Math.ceil(MIN_KILLED_SHARE * RUNS));
    },
    90_000 + RUNS * 3_000,
  );
});

/** Every slot of a volume, read read-only. */
function slotsOf(path: string): Buffer[] {
  const volume = openVolume(path, { readOnly: true });
  try {
    return readAllSlots(volume);
  } finally {
    volume.close();
  }
}
