#!/usr/bin/env node
// Benchmark: start-up of the CLI (issue 19). `snaptape --version` and `snaptape --help` against a
// bare `node -e 0`, run interleaved (node, --version, --help, node, …) so that machine load falls on
// all three alike; the median of each is reported, and the ratio to node's median.
// Goal: `--version` within 3× of `node -e 0`.
//
// Usage: npm run build && node bench/startup.mjs [--runs N] [--bin PATH] [--strict]
//   --bin times another build's bin/snaptape (e.g. of an earlier commit) instead of this one.
//   --strict exits 1 when the goal is missed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Goal of issue 19: `snaptape --version` at most this many times `node -e 0`. */
const GOAL_RATIO = 3;
const DEFAULT_RUNS = 10;

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : DEFAULT_RUNS;
const strict = args.includes('--strict');
const binAt = args.indexOf('--bin');
const BIN = binAt >= 0 ? args[binAt + 1] : fileURLToPath(new URL('../bin/snaptape', import.meta.url));

const CASES = [
  { name: '`node -e 0`', argv: ['-e', '0'] },
  { name: '`snaptape --version`', argv: [BIN, '--version'] },
  { name: '`snaptape --help`', argv: [BIN, '--help'] },
];

function timeOnce(argv) {
  const started = performance.now();
  const run = spawnSync(process.execPath, argv, { encoding: 'utf8' });
  const ms = performance.now() - started;
  if (run.status !== 0) throw new Error(`node ${argv.join(' ')} failed (${run.status}): ${run.stderr}`);
  return ms;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const samples = CASES.map(() => []);
for (let round = 0; round < runs; round++) CASES.forEach((c, i) => samples[i].push(timeOnce(c.argv)));

const medians = samples.map(median);
const nodeMs = medians[0];
console.log(`Node ${process.version}, ${runs} runs each, interleaved.\n`);
console.log('| command | median ms | min ms | max ms | × node -e 0 |');
console.log('| --- | ---: | ---: | ---: | ---: |');
CASES.forEach((c, i) => {
  const s = samples[i];
  console.log(`| ${c.name} | ${medians[i].toFixed(0)} | ${Math.min(...s).toFixed(0)} | ${Math.max(...s).toFixed(0)} | ${(medians[i] / nodeMs).toFixed(2)} |`);
});
const ratio = medians[1] / nodeMs;
const ok = ratio <= GOAL_RATIO;
console.log(`\n--version: ${ratio.toFixed(2)}× node -e 0 (goal <= ${GOAL_RATIO}×) ${ok ? 'OK' : 'MISSED'}`);
if (strict && !ok) process.exitCode = 1;
