#!/usr/bin/env node
// Benchmark: how long `snaptape init` of a 3390-9 takes, and how much disk a new 3390-3 uses.
// Issue 2 sets the goals: init of a 3390-9 under 5 s, a new 3390-3 at most 8% of its nominal size.
// Timing is measured here, not asserted in the test suite (tests must not depend on machine load).
//
// Usage: npm run build && node bench/init-time.mjs [--runs N] [--strict]
//   --strict exits 1 when a goal is missed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/snaptape', import.meta.url));
/** Goal of issue 2 for `init --type 3390-9`. */
const INIT_3390_9_GOAL_MS = 5000;
/** Goal of issue 2: a new 3390-3 uses at most this share of its nominal size on disk. */
const SPARSE_GOAL_SHARE = 0.08;
/** Runs per measurement: the median is reported. */
const DEFAULT_RUNS = 3;

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : DEFAULT_RUNS;
const strict = args.includes('--strict');

const dir = mkdtempSync(join(tmpdir(), 'snaptape-bench-'));
function init(type, volser) {
  const image = join(dir, `${volser}.ckd`);
  rmSync(image, { force: true });
  const started = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'init', image, '--type', type, '--volser', volser], { encoding: 'utf8' });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`init ${type} failed: ${r.stderr}`);
  const st = statSync(image);
  rmSync(image);
  return { ms, onDiskBytes: st.blocks * 512 };
}

let ok = true;
try {
  const times = [];
  for (let i = 0; i < runs; i++) times.push(init('3390-9', 'BENCH9').ms);
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const initOk = median < INIT_3390_9_GOAL_MS;
  ok &&= initOk;
  console.log(
    `init 3390-9: median ${median.toFixed(0)} ms of ${runs} runs [${times.map((t) => t.toFixed(0)).join(', ')}] (goal < ${INIT_3390_9_GOAL_MS} ms) ${initOk ? 'OK' : 'OVER GOAL'}`,
  );

  const tracks3390_3 = 3339 * 15;
  const nominal = tracks3390_3 * 56664;
  const { ms, onDiskBytes } = init('3390-3', 'BENCH3');
  const share = onDiskBytes / nominal;
  const sparseOk = share <= SPARSE_GOAL_SHARE;
  ok &&= sparseOk;
  console.log(
    `init 3390-3: ${ms.toFixed(0)} ms, ${onDiskBytes} bytes on disk = ${(share * 100).toFixed(2)}% of nominal (goal <= ${SPARSE_GOAL_SHARE * 100}%) ${sparseOk ? 'OK' : 'OVER GOAL'}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (strict && !ok) process.exitCode = 1;
