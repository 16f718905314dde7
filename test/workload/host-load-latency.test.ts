/**
 * Layer: the host load's latency figures (src/workload/host-load.ts). A write held back by a
 * blocked thread must count as late (coordinated omission): the corrected figures are timed from
 * when each write was due at the fixed rate, the raw ones from when it started. Both are kept in an
 * HdrHistogram (latency-histogram.ts): within 0.1% of the exact percentiles, in bounded memory.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../../src/base/prng.js';
import { createVolume } from '../../src/volume/open-volume.js';
import { HostLoad } from '../../src/workload/host-load.js';
import { LatencyHistogram } from '../../src/workload/latency-histogram.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds the thread as a synchronous copy-before-write would. */
function blockThread(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('host load latency, raw and corrected for coordinated omission', () => {
  it('a 300 ms stall of the thread shows in the corrected p99 and max, not in the raw ones', async () => {
    const volume = createVolume(join(dir.path, 'load.fba'), { type: '3370', blocks: 20_000, volser: 'LAT001' });
    try {
      const load = new HostLoad(volume, { kind: 'random', ratePerSecond: 1000 }, 7);
      load.start();
      await sleep(150);
      blockThread(300);
      await sleep(150);
      const stats = load.stop();
      expect(stats.writes).toBeGreaterThan(300);
      // The writes due during the stall ran after it: ~300 of ~600 writes were up to 300 ms late.
      expect(stats.correctedMaxUs).toBeGreaterThan(250_000);
      expect(stats.correctedP99Us).toBeGreaterThan(200_000);
      expect(stats.correctedP999Us).toBeGreaterThanOrEqual(stats.correctedP99Us);
      // Each write itself is quick: raw timing never saw the stall.
      expect(stats.latencyP99Us).toBeLessThan(50_000);
      expect(stats.latencyMaxUs).toBeLessThan(100_000);
      for (const [raw, corrected] of [
        [stats.latencyP50Us, stats.correctedP50Us],
        [stats.latencyP99Us, stats.correctedP99Us],
        [stats.latencyMaxUs, stats.correctedMaxUs],
      ] as const)
        expect(corrected).toBeGreaterThanOrEqual(raw);
    } finally {
      volume.close();
    }
  });

  it('writes driven by hand (no schedule) are never late: corrected equals raw', () => {
    const volume = createVolume(join(dir.path, 'hand.fba'), { type: '3370', blocks: 2_000, volser: 'LAT002' });
    try {
      const load = new HostLoad(volume, { kind: 'random', ratePerSecond: 1 }, 7);
      for (let i = 0; i < 20; i++) load.writeOne();
      const stats = load.stop();
      expect(stats.correctedP99Us).toBe(stats.latencyP99Us);
      expect(stats.correctedMaxUs).toBe(stats.latencyMaxUs);
    } finally {
      volume.close();
    }
  });

  it('the histogram gives the exact percentiles within 0.1%, and its memory does not grow with the samples', () => {
    const prng = new Prng(11);
    const histogram = new LatencyHistogram();
    const footprint = histogram.footprintBytes;
    const values = Array.from({ length: 1_000_000 }, () => 1 + prng.below(2_000_000));
    for (const v of values) histogram.record(v);
    expect(histogram.count).toBe(values.length);
    expect(histogram.footprintBytes).toBe(footprint);
    expect(footprint).toBeLessThan(200_000);
    const sorted = Float64Array.from(values).sort();
    // The exact percentile: the smallest sample with at least p% of the samples at or below it.
    const exact = (p: number): number => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
    const got = histogram.percentiles();
    for (const [p, value] of [
      [50, got.p50Us],
      [99, got.p99Us],
      [99.9, got.p999Us],
      [100, got.maxUs],
    ] as const)
      expect(Math.abs(value - exact(p)) / exact(p), `p${p}`).toBeLessThan(0.001);
  });
});
