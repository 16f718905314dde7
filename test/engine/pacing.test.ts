/**
 * One pacing, held everywhere (issue 17): `--pause-after M --pause-ms P` stops the copy as a whole
 * for at least P ms after every M units, and `--throttle-mbps R` keeps the copy's average rate
 * within 15% of R, for a tape backup and a clone precopy, on the worker path (a one-file source)
 * and on the owning-thread path (a CCKD source). The timeline comes from a sampler thread reading
 * the track-state counters (harness/copy-sampler.ts), so the owning thread is timed too.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { CopySampler, stallsOf, type CopySample } from '../harness/copy-sampler.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const CYLINDERS = 100;
const PAUSE_AFTER = 500;
const PAUSE_MS = 300;
const THROTTLE_MBPS = 20;
/** The sampler looks every millisecond: a stall it measures may be that much short of the real one. */
const SAMPLE_SLACK_MS = 3;

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
  /** Starts the copy with the pacing options; resolves when its background copy is done. */
  run(
    source: Volume,
    pacing: { pauseAfter?: number; pauseMs?: number; throttleMbps?: number },
    tag: string,
  ): { stateBuffer: SharedArrayBuffer; done: Promise<string | undefined> };
}

const backup: Technique = {
  name: 'tape backup',
  run(source, pacing, tag) {
    const session = TapeBackupSession.start(source, { tapePath: join(dir.path, `${tag}.aws`), pool, ...pacing });
    return { stateBuffer: session.states.buffer, done: session.done.then(() => session.copyPath) };
  },
};

const clonePrecopy: Technique = {
  name: 'clone precopy',
  run(source, pacing, tag) {
    const target = createVolume(join(dir.path, `${tag}.target.ckd`), { type: '3390', cylinders: CYLINDERS, volser: 'DST001' });
    const session = CloneSession.create(source, target, { pool, precopy: true, ...pacing });
    const done = (async (): Promise<string | undefined> => {
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
    })();
    return { stateBuffer: session.states.buffer, done };
  },
};

async function timeline(
  technique: Technique,
  sourcePath: string,
  pacing: Parameters<Technique['run']>[1],
  tag: string,
): Promise<{ samples: CopySample[]; startedMs: number; path: string | undefined; units: number }> {
  const { openVolume } = await import('../../src/api/volume-api.js');
  const source = openVolume(sourcePath, { readOnly: false });
  try {
    const sampler = await CopySampler.start();
    const startedMs = Date.now();
    const started = technique.run(source, pacing, tag);
    sampler.watch(started.stateBuffer);
    const path = await started.done;
    const samples = await sampler.stop();
    return { samples, startedMs, path, units: source.unitCount };
  } finally {
    source.close();
  }
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
    const last = run.samples[run.samples.length - 1] as CopySample;
    expect(last.copied).toBe(run.units);
    const stalls = stallsOf(run.samples, PAUSE_MS - SAMPLE_SLACK_MS);
    // After each multiple of M (not the end of the copy), a stall begins within one batch per thread.
    for (let k = 1; k * PAUSE_AFTER < run.units; k++) {
      const after = stalls.find((s) => s.copiedBefore >= k * PAUSE_AFTER && s.copiedBefore < k * PAUSE_AFTER + 15 * (pool.workers + 1));
      expect(after, `a pause after ${k * PAUSE_AFTER} units (stalls: ${JSON.stringify(stalls)})`).toBeDefined();
    }
    // And no other stall: the copy does not pause elsewhere.
    expect(stalls.length).toBe(Math.floor((run.units - 1) / PAUSE_AFTER));
  }, 120_000);

  it(`keeps the average rate within 15% of --throttle-mbps ${THROTTLE_MBPS}`, async () => {
    const run = await timeline(technique, sourcePath(), { throttleMbps: THROTTLE_MBPS }, `throttle-${technique.name}-${source}`.replace(/ /g, '-'));
    expect(run.path).toBe(path);
    const last = run.samples[run.samples.length - 1] as CopySample;
    const seconds = (last.atMs - run.startedMs) / 1000;
    const mbps = last.bytes / 1e6 / seconds;
    expect(last.bytes).toBeGreaterThan(THROTTLE_MBPS * 1e6 * 1.5);
    expect(mbps).toBeGreaterThan(THROTTLE_MBPS * 0.85);
    expect(mbps).toBeLessThan(THROTTLE_MBPS * 1.15);
  }, 120_000);
});
