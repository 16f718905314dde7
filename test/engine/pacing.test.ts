/**
 * One pacing, held everywhere (issue 17): `--pause-after M --pause-ms P` stops the copy as a whole
 * for at least P ms after every M units, and `--throttle-mbps R` keeps the copy's average rate
 * within 15% of R, for a tape backup and a clone precopy, on the worker path (a one-file source)
 * and on the owning-thread path (a CCKD source). The timeline is the copy's own event timestamps:
 * the trace of batches the engine's pacing keeps (`copyTrace`), written by whichever thread copied.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { copyTrace, pacingStartedMs, type CopyTraceEntry, type PacingPlan } from '../../src/engine/copy-pacing.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { TrackStateArray } from '../../src/engine/track-state.js';
import { openVolume } from '../../src/api/volume-api.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const CYLINDERS = 100;
const PAUSE_AFTER = 500;
const PAUSE_MS = 300;
// Below what the owning thread copies from a CCKD source on a loaded machine (13-17 MB/s seen in CI
// and under `yes`, where 20 MB/s could not be reached), so the lower bound tests the pacing.
const THROTTLE_MBPS = 10;

let dir: TempDir;
let pool: CopyPool;
let filePath: string;
let cckdPath: string;

beforeAll(() => {
  dir = makeTempDir('snaptape-pacing-');
  pool = new CopyPool(2);
  const filled = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed: 17, percent: 90, name: 'source.ckd' });
  const cckd = createVolume(join(dir.path, 'source.cckd'), { type: '3390', cylinders: CYLINDERS, volser: 'CCKD01', format: 'cckd' });
  for (let t = 0; t < filled.ckd.trackCount; t++) cckd.writeTrackImages(t, [filled.readTrackImage(t)]);
  filePath = filled.path;
  cckdPath = cckd.path;
  filled.close();
  cckd.close();
}, 120_000);

afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

interface Technique {
  readonly name: string;
  /** Sets the copy up with the pacing options; `start` resolves with the path when its background copy is done. */
  prepare(
    source: Volume,
    pacing: { pauseAfter?: number; pauseMs?: number; throttleMbps?: number },
    tag: string,
  ): { stateBuffer: SharedArrayBuffer; pacing: PacingPlan; start: () => Promise<string | undefined> };
}

const backup: Technique = {
  name: 'tape backup',
  prepare(source, pacing, tag) {
    const session = TapeBackupSession.start(source, { tapePath: join(dir.path, `${tag}.aws`), pool, ...pacing });
    return {
      stateBuffer: session.states.buffer,
      pacing: session.plan.pacing,
      start: async () => {
        await session.done;
        return session.copyPath;
      },
    };
  },
};

const clonePrecopy: Technique = {
  name: 'clone precopy',
  prepare(source, pacing, tag) {
    const target = createVolume(join(dir.path, `${tag}.target.ckd`), { type: '3390', cylinders: CYLINDERS, volser: 'DST001' });
    const session = CloneSession.create(source, target, { pool, ...pacing });
    return {
      stateBuffer: session.states.buffer,
      pacing: session.pacingPlan,
      start: async () => {
        session.precopy();
        // The precopy's first pass is done when every track is copied; then end the session.
        for (;;) {
          const status = session.status();
          if (status.tracksLeft === 0 && status.passes > 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        session.activate();
        await session.whenCopied();
        session.terminate();
        target.close();
        return session.copyPath;
      },
    };
  },
};

interface Timeline {
  /** The copy's batches, oldest first (engine/copy-pacing.ts `copyTrace`). */
  readonly trace: CopyTraceEntry[];
  readonly pacingStartedMs: number;
  readonly path: string | undefined;
  readonly units: number;
  /** Bytes the background copy wrote. */
  readonly bytes: number;
}

async function timeline(technique: Technique, sourcePath: string, pacing: Parameters<Technique['prepare']>[1], tag: string): Promise<Timeline> {
  const source = openVolume(sourcePath, { readOnly: false });
  try {
    const prepared = technique.prepare(source, pacing, tag);
    const path = await prepared.start();
    const bytes = TrackStateArray.attach(prepared.stateBuffer).counters().bytesInOrder;
    return { trace: copyTrace(prepared.pacing), pacingStartedMs: pacingStartedMs(prepared.pacing), path, units: source.unitCount, bytes };
  } finally {
    source.close();
  }
}

/** Gaps of at least `minMs` between two batches landing, with the units copied before each. */
function stallsOf(trace: readonly CopyTraceEntry[], minMs: number): Array<{ unitsBefore: number; ms: number }> {
  const stalls: Array<{ unitsBefore: number; ms: number }> = [];
  for (let i = 1; i < trace.length; i++) {
    const ms = (trace[i] as CopyTraceEntry).atMs - (trace[i - 1] as CopyTraceEntry).atMs;
    if (ms >= minMs) stalls.push({ unitsBefore: (trace[i - 1] as CopyTraceEntry).unitsAfter, ms });
  }
  return stalls;
}

describe.each([
  { technique: backup, source: 'file', path: 'worker' },
  { technique: backup, source: 'cckd', path: 'owning-thread' },
  { technique: clonePrecopy, source: 'file', path: 'worker' },
  { technique: clonePrecopy, source: 'cckd', path: 'owning-thread' },
])('$technique.name from a $source source ($path)', ({ technique, source, path }) => {
  const sourcePath = (): string => (source === 'file' ? filePath : cckdPath);

  it(`pauses the whole copy for at least ${PAUSE_MS} ms after every ${PAUSE_AFTER} units`, async () => {
    const run = await timeline(technique, sourcePath(), { pauseAfter: PAUSE_AFTER, pauseMs: PAUSE_MS }, `pause-${technique.name}-${source}`.replace(/ /g, '-'));
    expect(run.path).toBe(path);
    // Every unit was counted. The count's last value, not the trace's last entry: each thread reads
    // the clock before it adds its batch to the shared count, so with two threads the entry sorted
    // last by time can hold the other thread's smaller count (1485 of 1500, seen once in CI).
    expect(Math.max(...run.trace.map((e) => e.unitsAfter))).toBe(run.units);
    const stalls = stallsOf(run.trace, PAUSE_MS);
    // After each multiple of M (not the end of the copy), a stall begins within one batch per thread.
    for (let k = 1; k * PAUSE_AFTER < run.units; k++) {
      const after = stalls.find((s) => s.unitsBefore >= k * PAUSE_AFTER && s.unitsBefore < k * PAUSE_AFTER + 15 * (pool.workers + 1));
      expect(after, `a pause after ${k * PAUSE_AFTER} units (stalls: ${JSON.stringify(stalls)})`).toBeDefined();
    }
    // And no pause elsewhere: every batch counted inside a pause lies just after a multiple of M.
    // Gaps alone cannot tell this on a loaded machine: a thread the scheduler stops for 400 ms leaves
    // a gap as long as a pause (seen in CI, and here under `yes` and other tests).
    const window = 15 * (pool.workers + 1);
    const paused = run.trace.filter((e) => e.pauseUntilMs > 0);
    expect(paused.length).toBeGreaterThanOrEqual(Math.floor((run.units - 1) / PAUSE_AFTER));
    const elsewhere = paused.filter((e) => e.unitsAfter < PAUSE_AFTER || e.unitsAfter % PAUSE_AFTER >= window);
    expect(elsewhere, `batches counted inside a pause away from a multiple of ${PAUSE_AFTER}`).toEqual([]);
  }, 120_000);

  it(`keeps the average rate within 15% of --throttle-mbps ${THROTTLE_MBPS}`, async () => {
    const run = await timeline(technique, sourcePath(), { throttleMbps: THROTTLE_MBPS }, `throttle-${technique.name}-${source}`.replace(/ /g, '-'));
    expect(run.path).toBe(path);
    // From the start of the pacing's rate budget to the last batch.
    const seconds = ((run.trace[run.trace.length - 1] as CopyTraceEntry).atMs - run.pacingStartedMs) / 1000;
    const mbps = run.bytes / 1e6 / seconds;
    expect(run.bytes).toBeGreaterThan(THROTTLE_MBPS * 1e6 * 1.5);
    expect(mbps).toBeGreaterThan(THROTTLE_MBPS * 0.85);
    expect(mbps).toBeLessThan(THROTTLE_MBPS * 1.15);
  }, 120_000);
});
