// Instant snapshot by track pointers (issue 6): the time of a whole-volume snapshot must not grow
// with the data. Builds a 3390-1 and a 3390-9 mapped volume with 50% of their tracks written (one
// small record each, bulk-loaded: syncEachAllocation off, synced at close), then times
// `snapshot define` and `snapshot execute` (pointer copy + VOL1/VTOC metadata update, fsyncs
// included) to fresh targets. Prints a Markdown table. Run after `npm run build`:
//   node bench/snapshot-bench.mjs [--runs 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAMILY_3390 } from '../dist/geometry/device-types.js';
import { initSubsystem } from '../dist/subsystem/track-pool.js';
import { createMappedVolume, openMappedVolume } from '../dist/subsystem/mapped-volumes.js';
import { defineSnapshot, executeSnapshot } from '../dist/techniques/snapshot/snapshot-protocol.js';
import { poolUsage } from '../dist/subsystem/subsystem-check.js';

const runsAt = process.argv.indexOf('--runs');
const RUNS = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 3;
const WRITTEN_SHARE = 0.5;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function build(dir, type) {
  const sub = join(dir, type.replace('-', '_'));
  initSubsystem(sub, FAMILY_3390);
  const source = join(sub, 'SRC');
  createMappedVolume(source, { type, volser: 'SRC001' }).close();
  const started = performance.now();
  const volume = openMappedVolume(source, { syncEachAllocation: false });
  const tracks = volume.ckd.trackCount;
  const step = Math.round(1 / WRITTEN_SHARE);
  const record = [{ key: Buffer.alloc(0), data: Buffer.alloc(512, 0xc1) }];
  for (let t = 15; t < tracks; t += step) volume.writeTrackRecords(t, record);
  volume.close();
  return { sub, source, tracks, loadMs: performance.now() - started };
}

function measure(built) {
  const define = [];
  const execute = [];
  for (let i = 0; i < RUNS; i++) {
    let t0 = performance.now();
    const { token } = defineSnapshot(built.source, join(built.sub, `SNAP${i}`), { volser: `SNP00${i}` });
    define.push(performance.now() - t0);
    t0 = performance.now();
    executeSnapshot(token);
    execute.push(performance.now() - t0);
  }
  return { define: median(define), execute: median(execute) };
}

const dir = mkdtempSync(join(tmpdir(), 'snapshot-bench-'));
try {
  const rows = [];
  for (const type of ['3390-1', '3390-9']) {
    const built = build(dir, type);
    const usage = poolUsage(built.sub);
    const times = measure(built);
    rows.push({ type, tracks: built.tracks, slots: usage.referencedSlots, loadMs: built.loadMs, ...times });
  }
  const [small, big] = rows;
  console.log(`| volume | tracks | slots in use (50% written, ${RUNS} snapshots) | define ms | execute ms (pointer copy + metadata) | define + execute ms |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(`| ${r.type} | ${r.tracks} | ${r.slots} | ${r.define.toFixed(1)} | ${r.execute.toFixed(1)} | ${(r.define + r.execute).toFixed(1)} |`);
  const ratio = (big.define + big.execute) / (small.define + small.execute);
  console.log(
    `\n3390-9 / 3390-1 (define + execute): ${ratio.toFixed(2)}x; 3390-9 under 100 ms: ${big.define + big.execute < 100 ? 'yes' : 'NO'}; within 2x: ${ratio <= 2 ? 'yes' : 'NO'}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
