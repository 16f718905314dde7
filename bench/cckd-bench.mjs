#!/usr/bin/env node
// CCKD bench (issue 11): read and write throughput of a compressed CCKD volume (zlib, and bzip2
// for reference) beside an uncompressed CKD volume, through the same Volume API, on this machine.
//   write: a fill of the volume with deterministic pseudo-random data sets (format writes);
//   read:  every track image read back (decompressed for CCKD), cold (fresh open) then warm;
//   convert: `convert --format cckd` of the filled CKD image.
// Figures are MB/s of track data (used bytes, HA through EOT), the median of --runs runs.
// --bzip2-encoders N: only bzip2 writes, N rounds alternating libbz2 (native node-bzip2) and the
// pure-JS compressjs fallback (SNAPTAPE_NO_NATIVE_BZIP2=1), each in a fresh child process.
// Usage: npm run build && node bench/cckd-bench.mjs [--cyls N] [--runs N] [--percent P] [--skip-bzip2] [--bzip2-encoders N]
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVolume, openVolume } from '../dist/api/volume-api.js';
import { fillVolume } from '../dist/vtoc/volume-fill.js';
import { convertImage } from '../dist/image/image-convert.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORK = join(ROOT, 'bench', 'work', 'cckd');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
/** Cylinders of the test volume: 200 = 3,000 tracks, ~170 MB of slots. */
const CYLINDERS = option('--cyls', 200);
const RUNS = option('--runs', 3);
const PERCENT = option('--percent', 80);
/** bzip2 writes with the pure-JS fallback run at about 0.3 MB/s: measure those on a small volume only. */
const SKIP_BZIP2 = args.includes('--skip-bzip2');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (bytes, ms) => bytes / 1e6 / (ms / 1000);

function usedBytes(volume) {
  let total = 0;
  const sizes = volume.trackSizes();
  for (let t = 0; t < volume.ckd.trackCount; t++) total += sizes.get(t);
  return total;
}

function writeRun(path, format, compression) {
  rmSync(path, { force: true });
  rmSync(`${path}.sizes`, { force: true });
  const started = performance.now();
  const volume = createVolume(path, { type: '3390', cylinders: CYLINDERS, volser: 'BENCH1', format, compression });
  fillVolume(volume, { seed: 42, percent: PERCENT });
  const bytes = usedBytes(volume);
  volume.close();
  return { ms: performance.now() - started, bytes, fileBytes: statSync(path).size };
}

function readRun(path) {
  rmSync(`${path}.sizes`, { force: true });
  const volume = openVolume(path, { readOnly: true });
  const started = performance.now();
  let bytes = 0;
  for (let t = 0; t < volume.ckd.trackCount; t++) bytes += volume.readTrackImage(t).length;
  const ms = performance.now() - started;
  volume.close();
  return { ms, bytes };
}

mkdirSync(WORK, { recursive: true });

if (args.includes('--bzip2-write-once')) {
  // Child of --bzip2-encoders: one bzip2 write with whichever encoder this process picked.
  const { bzip2Encoder } = await import('../dist/image/bzip2-encoder.js');
  const r = writeRun(join(WORK, `bench.bzip2.${process.pid}.cckd`), 'cckd', 'bzip2');
  rmSync(join(WORK, `bench.bzip2.${process.pid}.cckd`), { force: true });
  console.log(JSON.stringify({ encoder: bzip2Encoder().name, ...r }));
  process.exit(0);
}

const ROUNDS = option('--bzip2-encoders', 0);
if (ROUNDS > 0) {
  const self = fileURLToPath(import.meta.url);
  const results = { libbz2: [], compressjs: [] };
  let bytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const off of round % 2 === 0 ? [false, true] : [true, false]) {
      const child = spawnSync(process.execPath, [self, '--bzip2-write-once', '--cyls', String(CYLINDERS), '--percent', String(PERCENT)], {
        encoding: 'utf8',
        env: { ...process.env, SNAPTAPE_NO_NATIVE_BZIP2: off ? '1' : '' },
      });
      if (child.status !== 0) throw new Error(child.stderr);
      const r = JSON.parse(child.stdout);
      results[r.encoder].push(mb(r.bytes, r.ms));
      bytes = r.bytes;
    }
  }
  const [fast, slow] = [median(results.libbz2), median(results.compressjs)];
  console.log(
    [
      `CCKD bzip2 write, 3390 of ${CYLINDERS} cylinders (${(bytes / 1e6).toFixed(1)} MB of track data), ${ROUNDS} rounds interleaved, median:`,
      '',
      '| bzip2 encoder | write MB/s (median) | runs (MB/s) |',
      '| --- | ---: | --- |',
      `| compressjs (pure JS, SNAPTAPE_NO_NATIVE_BZIP2=1) | ${slow.toFixed(2)} | ${results.compressjs.map((x) => x.toFixed(2)).join(', ')} |`,
      `| libbz2 (node-bzip2) | ${fast.toFixed(2)} | ${results.libbz2.map((x) => x.toFixed(2)).join(', ')} |`,
      '',
      `libbz2 / compressjs: ${(fast / slow).toFixed(1)}×`,
    ].join('\n'),
  );
  rmSync(WORK, { recursive: true, force: true });
  process.exit(0);
}

const rows = [];
for (const [label, format, compression] of [
  ['CKD (uncompressed)', 'ckd', undefined],
  ['CCKD zlib', 'cckd', 'zlib'],
  ['CCKD bzip2', 'cckd', 'bzip2'],
].filter(([, , c]) => !(SKIP_BZIP2 && c === 'bzip2'))) {
  const path = join(WORK, `bench.${format === 'ckd' ? 'ckd' : `${compression}.cckd`}`);
  const runs = compression === 'bzip2' ? 1 : RUNS;
  const writes = Array.from({ length: runs }, () => writeRun(path, format, compression));
  const reads = Array.from({ length: runs }, () => readRun(path));
  const w = writes[0];
  rows.push({
    label,
    writeMBps: median(writes.map((r) => mb(r.bytes, r.ms))),
    readMBps: median(reads.map((r) => mb(r.bytes, r.ms))),
    dataMB: w.bytes / 1e6,
    fileMB: w.fileBytes / 1e6,
  });
}
const ckdPath = join(WORK, 'bench.ckd');
const convertMs = [];
for (let i = 0; i < RUNS; i++) {
  const out = join(WORK, 'converted.cckd');
  const started = performance.now();
  convertImage(ckdPath, out, { format: 'cckd', compression: 'zlib', force: true });
  convertMs.push(performance.now() - started);
}
const dataBytes = rows[0].dataMB * 1e6;

const lines = [
  `CCKD bench: 3390 of ${CYLINDERS} cylinders (${CYLINDERS * 15} tracks), filled ${PERCENT}% with pseudo-random data sets; median of ${RUNS} runs (bzip2: 1 run)`,
  '',
  '| image | write MB/s | read MB/s | track data MB | file MB |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.label} | ${r.writeMBps.toFixed(1)} | ${r.readMBps.toFixed(1)} | ${r.dataMB.toFixed(1)} | ${r.fileMB.toFixed(1)} |`),
  '',
  `convert --format cckd (zlib) of the filled CKD image: ${mb(dataBytes, median(convertMs)).toFixed(1)} MB/s of track data (${(median(convertMs) / 1000).toFixed(2)} s)`,
];
console.log(lines.join('\n'));
rmSync(WORK, { recursive: true, force: true });
