#!/usr/bin/env node
/**
 * The copy engine against a baseline build, side by side in one run (issue 17): the backup copy
 * phase, the host write p99 during a backup, the clone precopy and the mirror resync, for the build
 * in this checkout and for a baseline build of a git revision, on the same files, in interleaved
 * rounds (A B, B A, A B, …) so that the machine's drift falls on both alike.
 *
 * The baseline is a temporary `git worktree` of the revision under bench/work/ (git-ignored), with
 * this checkout's node_modules linked in and built there with `npm run build`; it is removed at the
 * end. Both builds are driven through their CLI (`node <checkout>/bin/snaptape backup … --json`)
 * and, for the clone and the mirror, which have no timed CLI, through bench/engine-compare-driver.mjs
 * importing the build's dist/.
 *
 * Prints a Markdown section for bench/RESULTS.md on stdout and writes bench/work/engine-compare.json.
 * Usage: npm run build && node bench/engine-compare.mjs [--baseline REV] [--rounds N] [--cylinders N]
 *   --baseline REV  the revision to compare with (default: a86979b, the last before the engine change)
 *   --rounds N      interleaved rounds (default 5); each figure is the median of N runs per build
 *   --cylinders N   the size of the 3390 volumes (default 1000)
 *   --keep          keep the baseline worktree (and its build) for the next run
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORK = join(ROOT, 'bench', 'work', 'engine-compare');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const BASELINE_REV = option('--baseline', 'a86979b');
const ROUNDS = Number(option('--rounds', 5));
const CYLINDERS = Number(option('--cylinders', 1000));
const KEEP = args.includes('--keep');
/** The write rate of the latency figure, as in section 2 of run-bench.mjs. */
const LATENCY_RATE = 1000;
/** Within this ratio a difference is called noise even when the ranges do not overlap. */
const NOISE_RATIO = 0.1;
const log = (text) => process.stderr.write(`${text}\n`);

function run(argv, options = {}) {
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// ---- the two builds ----------------------------------------------------------------------------
mkdirSync(WORK, { recursive: true });
const baselineDir = join(WORK, 'baseline');
const baselineCommit = run(['git', '-C', ROOT, 'rev-parse', '--short', `${BASELINE_REV}^{commit}`]).trim();
const currentCommit = run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD']).trim();
const currentDirty = run(['git', '-C', ROOT, 'status', '--porcelain', '--untracked-files=no', '--', 'src']).trim() !== '';
/** A baseline kept by --keep is reused when it is the same revision and built. */
const builtAt = (dir) =>
  existsSync(join(dir, 'dist')) ? spawnSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout?.trim() : undefined;
if (builtAt(baselineDir) !== baselineCommit) {
  if (existsSync(baselineDir)) {
    spawnSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', baselineDir]);
    rmSync(baselineDir, { recursive: true, force: true });
    run(['git', '-C', ROOT, 'worktree', 'prune']);
  }
  log(`baseline: a worktree of ${baselineCommit} in ${baselineDir}, built there…`);
  run(['git', '-C', ROOT, 'worktree', 'add', '--detach', baselineDir, baselineCommit]);
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(baselineDir, 'node_modules'));
  run(['npm', 'run', 'build'], { cwd: baselineDir });
}
if (!existsSync(join(ROOT, 'dist'))) throw new Error('this checkout is not built: npm run build first');
const builds = [
  { key: 'baseline', label: `baseline ${baselineCommit}`, dir: baselineDir },
  { key: 'new', label: `new ${currentCommit}${currentDirty ? ' (with changes)' : ''}`, dir: ROOT },
];

// ---- the shared source -------------------------------------------------------------------------
const source = join(WORK, `dense-${CYLINDERS}cyl.ckd`);
const loadSource = join(WORK, `dense-${CYLINDERS}cyl-load.ckd`);
const tape = join(WORK, 'compare.aws');
const snaptape = (build, ...a) => run([process.execPath, join(build.dir, 'bin', 'snaptape'), ...a]);
if (!existsSync(source)) {
  log(`making ${source} (dense: every track full)…`);
  snaptape(builds[1], 'init', source, '--type', '3390', '--cyls', String(CYLINDERS), '--volser', 'DENSE1', '--force');
  snaptape(builds[1], 'fill', source, '--seed', '7', '--percent', '100');
}
// The latency runs write into their source (--load-in-place): a copy of it, so that the copy-phase
// source stays dense. Both builds write into the same copy, one round after the other.
run(['cp', '--reflink=auto', source, loadSource]);
// With its track sizes, so that no backup pays for a scan of the copy.
if (existsSync(`${source}.sizes`)) run(['cp', `${source}.sizes`, `${loadSource}.sizes`]);

// ---- the figures ------------------------------------------------------------------------------
const cleanTape = () => {
  for (const suffix of ['', '.session.json', '.session.layout.json', '.map.json']) rmSync(`${tape}${suffix}`, { force: true });
  run(['sync']);
};
const figures = {
  copy: {
    title: 'backup copy phase, 2 workers (s)',
    measure: (build) => {
      cleanTape();
      return JSON.parse(snaptape(build, 'backup', source, '--to', tape, '--force', '--workers', '2', '--json')).summary.copySeconds;
    },
  },
  p99: {
    title: `host write p99 during a backup, ${LATENCY_RATE.toLocaleString('en')} writes/s, 2 workers (µs)`,
    measure: (build, round) => {
      cleanTape();
      const out = snaptape(
        build,
        'backup',
        loadSource,
        '--to',
        tape,
        '--force',
        '--workers',
        '2',
        '--json',
        '--load',
        `random:${LATENCY_RATE}`,
        '--load-in-place',
        '--seed',
        String(round + 1),
      );
      return JSON.parse(out).load.latencyP99Us;
    },
  },
  clone: {
    title: 'clone precopy, 2 workers, 200 host writes/s on a 10% hot set (s)',
    measure: (build) => driver(build, 'clone').seconds,
  },
  mirror: {
    title: 'mirror resync, 100% of the tracks changed, local secondary (s)',
    measure: (build) => driver(build, 'mirror').seconds,
  },
};
function driver(build, figure) {
  const script = join(ROOT, 'bench', 'engine-compare-driver.mjs');
  return JSON.parse(run([process.execPath, script, '--checkout', build.dir, '--work', WORK, '--cylinders', String(CYLINDERS), figure]));
}

const loadBefore = loadavg();
log(`engine compare: ${builds.map((b) => b.label).join(' against ')}, ${ROUNDS} rounds, 3390 of ${CYLINDERS} cylinders; load average ${loadBefore}`);
const samples = Object.fromEntries(Object.keys(figures).map((f) => [f, { baseline: [], new: [] }]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    // A B in even rounds, B A in odd ones: each build goes first as often as the other.
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const [name, figure] of Object.entries(figures)) {
      for (const build of order) samples[name][build.key].push(figure.measure(build, round));
    }
    log(
      `round ${round + 1}/${ROUNDS}: ${Object.entries(samples)
        .map(([n, s]) => `${n} ${s.baseline.at(-1).toFixed(3)}/${s.new.at(-1).toFixed(3)}`)
        .join(', ')}`,
    );
  }
} finally {
  cleanTape();
  rmSync(loadSource, { force: true });
  rmSync(`${loadSource}.sizes`, { force: true });
  if (!KEEP) {
    run(['git', '-C', ROOT, 'worktree', 'remove', '--force', baselineDir]);
    log('baseline worktree removed');
  }
}
const loadAfter = loadavg();

// ---- report -----------------------------------------------------------------------------------
const digits = (name) => (name === 'p99' ? 0 : 3);
const rows = Object.entries(figures).map(([name, figure]) => {
  const [a, b] = [samples[name].baseline, samples[name].new];
  const [ma, mb] = [median(a), median(b)];
  const ratio = mb / ma;
  const overlap = Math.min(...b) <= Math.max(...a) && Math.min(...a) <= Math.max(...b);
  const verdict = mb <= ma ? 'not slower' : overlap || ratio <= 1 + NOISE_RATIO ? 'within noise' : 'SLOWER';
  // The two builds ran back to back in each round: a round is a pair, and a build that loses every
  // pair is slower even when the ranges overlap (the machine's load moves both alike).
  const slowerRounds = a.filter((x, i) => b[i] > x).length;
  return { name, title: figure.title, baseline: a, new: b, medianBaseline: ma, medianNew: mb, ratio, overlap, verdict, slowerRounds };
});
writeFileSync(
  join(ROOT, 'bench', 'work', 'engine-compare.json'),
  `${JSON.stringify({ builds: builds.map((b) => b.label), cylinders: CYLINDERS, rounds: ROUNDS, loadBefore, loadAfter, rows }, null, 2)}\n`,
);
const range = (xs, d) => `${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)}`;
const lines = [
  `${builds[1].label} against ${builds[0].label}, ${ROUNDS} interleaved rounds (A B, B A, …) on the same files: a dense 3390 of ${CYLINDERS.toLocaleString('en')} cylinders (\`fill --percent 100\`) for the backups, one 40% full for the clone, empty ones written in full for the mirror. ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; load average ${loadBefore} before, ${loadAfter} after (a shared machine). "within noise": the min-max ranges overlap or the medians differ by at most ${NOISE_RATIO * 100}%; the two builds run back to back in each round, so the rounds where the new build was slower than the baseline next to it are counted too (a build slower in every round is slower, whatever the ranges).`,
  '',
  `| figure | ${builds[0].label} median | min-max | ${builds[1].label} median | min-max | new / baseline | rounds where new was slower | verdict |`,
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...rows.map(
    (r) =>
      `| ${r.title} | ${r.medianBaseline.toFixed(digits(r.name))} | ${range(r.baseline, digits(r.name))} | ${r.medianNew.toFixed(digits(r.name))} | ${range(r.new, digits(r.name))} | ${r.ratio.toFixed(2)} | ${r.slowerRounds}/${ROUNDS} | ${r.verdict} |`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
