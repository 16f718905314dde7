#!/usr/bin/env node
// snaptape reliability figures (issue 10): writes bench/RELIABILITY.md.
//
//   1. Point-in-time races: the backup's point-in-time property (test/backup/point-in-time.test.ts)
//      over 1,000 randomised runs, half of them through a spool; mismatches must be 0.
//   2. SIGKILLs per technique: the crash harnesses (backup resume, instant snapshot copy-on-write,
//      version create, and clone and mirror where their harnesses exist), with acknowledged writes
//      lost and sessions falsely reported complete (both must be 0); runs, kills drawn and SIGKILLs
//      that landed are counted apart, and at least 95% of the drawn kills must land.
//   3. Fuzz cases per parser (100,000 each), crashes and hangs (both must be 0).
//   4. Host write p99 during a backup to a target slowed to 5 MB/s, with a spool and without one,
//      against no session at all: with a spool it must stay within 2x of no session.
//   5. Trust under attack (issue 16): the stale-lock takeover race (exactly one holder a round),
//      decompression bombs (typed error, time and extra RSS), a server under hostile clients
//      (another client's READ p99, an authenticated request's wait), and power loss at every
//      crash point of four techniques (no record claiming what the disk does not hold).
// Parts 1-3 and 5 run the test files themselves with larger counts; each test appends its figures as a
// JSON line to $SNAPTAPE_RELIABILITY_OUT (test/harness/crash-child.ts). Part 4 runs the CLI.
//
// Usage: npm run reliability [-- --reduced] [-- --out FILE] [-- --runs N] [-- --figures FILE]
//   --reduced: CI's counts (50 races, the CI crash runs, 10,000 fuzz cases, one latency run on a
//   smaller volume), written to test-artifacts/RELIABILITY-reduced.md unless --out says otherwise.
//   --figures FILE: do not run the test files; take the figures a passing run of them already
//   wrote with SNAPTAPE_RELIABILITY_OUT=FILE (.ci/run does this after npm test, so CI runs each
//   test once). --keep-figures FILE: run the test files and keep their figures in FILE.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostLoadBaselineScript, median } from './bench-common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'snaptape');
const args = process.argv.slice(2);
const REDUCED = args.includes('--reduced');
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const OUT = option('--out', join(ROOT, REDUCED ? 'test-artifacts/RELIABILITY-reduced.md' : 'bench/RELIABILITY.md'));
const WORK = REDUCED ? join(tmpdir(), `snaptape-reliability-${process.pid}`) : join(ROOT, 'bench', 'work', 'reliability');
const COUNTS = REDUCED
  ? { pitRuns: 50, crashRuns: null, fuzzCases: 10_000, latencyRuns: 1, cylinders: 30, rate: 1000 }
  : { pitRuns: 1000, crashRuns: 30, fuzzCases: 100_000, latencyRuns: Number(option('--runs', 3)), cylinders: 100, rate: 1000 };
const TARGET_MBPS = 5;
/** Share of drawn kills that must land before the child finishes (as test/harness/crash-child.ts asserts). */
const MIN_KILLED_SHARE = 0.95;
const TEST_FILES = [
  'test/backup/point-in-time.test.ts',
  'test/backup/backup-crash.test.ts',
  'test/snapshot/snapshot-crash.test.ts',
  'test/versions/version-crash.test.ts',
  'test/clone/clone-crash.test.ts',
  'test/mirror/mirror-crash.test.ts',
  'test/fuzz/parsers.fuzz.test.ts',
  'test/export/nbd-fuzz.test.ts',
  'test/volume/image-lock-race.test.ts',
  'test/faults/decompression-bombs.test.ts',
  'test/server/serve-fairness.test.ts',
  'test/faults/power-loss.test.ts',
].filter((f) => existsSync(join(ROOT, f)));

const log = (text) => process.stderr.write(`${text}\n`);
const fmt = (x, digits = 1) => Number(x).toFixed(digits);
function run(argv, options = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}
function snaptape(...a) {
  const r = run([process.execPath, BIN, ...a]);
  if (r.status !== 0) throw new Error(`snaptape ${a.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
// Each test appends its figures: start from an empty file (a given one is the caller's).
const givenFigures = option('--figures', undefined);
const figuresFile = givenFigures ?? option('--keep-figures', join(WORK, 'figures.jsonl'));
if (!givenFigures) rmSync(figuresFile, { force: true });

// ---- 1-3: the test files, with the counts above ---------------------------------------------
log(
  givenFigures
    ? `taking the figures of a passed test run from ${givenFigures}`
    : `running ${TEST_FILES.length} test files (${REDUCED ? 'reduced' : 'full'} counts)…`,
);
const env = {
  ...process.env,
  SNAPTAPE_RELIABILITY_OUT: figuresFile,
  SNAPTAPE_PIT_RUNS: String(COUNTS.pitRuns),
  FUZZ_CASES: String(COUNTS.fuzzCases),
  ...(COUNTS.crashRuns !== null ? { SNAPTAPE_CRASH_RUNS: String(COUNTS.crashRuns) } : {}),
};
const vitest = givenFigures
  ? { status: 0, stdout: '', stderr: '', seconds: 0 }
  : run(
      [process.execPath, join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', ...TEST_FILES, '--reporter=dot', '--testTimeout=3600000', '--hookTimeout=600000'],
      { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
const testsPassed = vitest.status === 0;
if (!testsPassed) log(`test files failed:\n${vitest.stdout.slice(-4000)}\n${vitest.stderr.slice(-4000)}`);
const figures = existsSync(figuresFile)
  ? readFileSync(figuresFile, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
log(`tests ${testsPassed ? 'passed' : 'FAILED'} in ${fmt(vitest.seconds, 0)} s; ${figures.length} figure lines`);

// ---- 4: host write latency against a target slowed to 5 MB/s --------------------------------
const pristine = join(WORK, 'pristine.ckd');
snaptape('init', pristine, '--type', '3390', '--cyls', String(COUNTS.cylinders), '--volser', 'SLOW01', '--force');
snaptape('fill', pristine, '--seed', '7', '--percent', '100');
const source = join(WORK, 'source.ckd');
const tape = join(WORK, 'slow.aws');
const spool = join(WORK, 'slow.spool');
/** A fresh copy of the pristine volume (host writes change the tracks they write). */
function freshSource() {
  for (const suffix of ['', '.sizes']) rmSync(source + suffix, { force: true });
  copyFileSync(pristine, source);
  if (existsSync(`${pristine}.sizes`)) copyFileSync(`${pristine}.sizes`, `${source}.sizes`);
  run(['sync']);
}
function backupRun(withSpool) {
  freshSource();
  const out = snaptape(
    'backup',
    source,
    '--to',
    tape,
    '--force',
    '--workers',
    '2',
    '--target-mbps',
    String(TARGET_MBPS),
    '--load',
    `random:${COUNTS.rate}`,
    '--load-in-place',
    '--seed',
    '3',
    '--json',
    ...(withSpool ? ['--spool', spool] : []),
  );
  const result = JSON.parse(out.stdout);
  return { ...result.load, seconds: result.summary.seconds, outOfOrder: result.summary.copiedOutOfOrder };
}
function baselineRun(seconds) {
  freshSource();
  const script = hostLoadBaselineScript(ROOT, source, COUNTS.rate, seconds * 1000);

  const r = run([process.execPath, '--input-type=module', '-e', script]);
  if (r.status !== 0) throw new Error(`baseline failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
const latency = { 'no session': [], 'backup, no spool': [], 'backup, spool': [] };
for (let r = 0; r < COUNTS.latencyRuns; r++) {
  const plain = backupRun(false);
  latency['backup, no spool'].push(plain);
  const spooled = backupRun(true);
  latency['backup, spool'].push(spooled);
  // The baseline runs as long as the spooled backup did, at the same rate and seed.
  latency['no session'].push(baselineRun(Math.max(3, spooled.seconds)));
  log(
    `latency run ${r + 1}/${COUNTS.latencyRuns}: p99 no spool ${fmt(plain.latencyP99Us)} µs, spool ${fmt(spooled.latencyP99Us)} µs, none ${fmt(latency['no session'][r].latencyP99Us)} µs`,
  );
}
rmSync(WORK, { recursive: true, force: true });

// ---- the report ---------------------------------------------------------------------------
const pit = figures.filter((f) => f.kind === 'point-in-time');
const crashes = figures.filter((f) => f.technique !== undefined && f.kind === undefined);
const fuzz = figures.filter((f) => f.kind === 'fuzz');
const lockRaces = figures.filter((f) => f.kind === 'lock-race');
const bombs = figures.filter((f) => f.kind === 'bomb');
const fairness = figures.filter((f) => f.kind === 'fairness');
const powerLoss = figures.filter((f) => f.kind === 'power-loss');
const p99 = (name) => median(latency[name].map((s) => s.latencyP99Us));
/** SIGKILLs that landed, as a share of the kills drawn (null for figures without draws). */
const killedShare = (f) => (typeof f.killDraws === 'number' && f.killDraws > 0 ? f.kills / f.killDraws : null);
const spoolRatio = p99('backup, spool') / p99('no session');
const lines = [
  `# Reliability${REDUCED ? ' (reduced, as CI runs it)' : ''}`,
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run reliability${REDUCED ? ' -- --reduced' : ''}\` on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.`,
  givenFigures
    ? 'The figures of parts 1-3 were written by a passing run of the test files just before (`--figures`; their counts are in the tables). Every figure below is counted by the test that asserts it.'
    : `The test files ran with SNAPTAPE_PIT_RUNS=${COUNTS.pitRuns}, FUZZ_CASES=${COUNTS.fuzzCases}${COUNTS.crashRuns !== null ? `, SNAPTAPE_CRASH_RUNS=${COUNTS.crashRuns}` : ' and the CI crash runs'}: ${testsPassed ? 'all passed' : '**some FAILED** (see the script output)'}. Every figure below is counted by the test that asserts it.`,
  '',
  '## 1. Point-in-time races (tape backup)',
  '',
  'Each run takes a reference copy at the start instant, races random host writes of every kind against the copy workers (a third aimed at tracks a worker holds claimed at that moment), restores the tape and compares every track with the reference. Every other run backs up through a spool, half of those to a target slowed to 50 MB/s.',
  '',
  '| runs | through a spool | host writes | aimed at claimed tracks | tracks copied out of order | mismatches |',
  '| ---: | ---: | ---: | ---: | ---: | ---: |',
  ...pit.map((f) => `| ${f.runs} | ${f.spooledRuns} | ${f.hostWrites} | ${f.aimedAtClaimed} | ${f.outOfOrder} | ${f.mismatches} |`),
  '',
  '## 2. SIGKILLs per technique',
  '',
  `A child process runs the technique with host writes it acknowledges one by one; the harness SIGKILLs it at a seeded point (of its progress, of its writes, or of the measured length of an unkilled run), recovers (resume, restart, check --repair), and checks every acknowledged write and the copy against its point in time. "Falsely complete": a session or record that says complete (or clean, in sync) while the copy is wrong or missing. Runs and SIGKILLs are counted apart: "kills drawn" are the child processes a kill was drawn for (the clone kills up to 3 children per run, then lets the last one finish), "SIGKILLs" those killed before they finished; a kill drawn after the work was done is a run, not a crash. At least ${MIN_KILLED_SHARE * 100} % of the drawn kills must land.`,
  '',
  '| technique | runs | kills drawn | SIGKILLs | landed | acknowledged writes lost | falsely complete | notes |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...crashes.map((f) => {
    const notes = Object.entries(f)
      .filter(([k]) => !['technique', 'runs', 'killDraws', 'kills', 'ackedWritesLost', 'falselyComplete'].includes(k))
      .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`)
      .join(', ');
    return `| ${f.technique} | ${f.runs} | ${f.killDraws ?? '—'} | ${f.kills} | ${killedShare(f) === null ? '—' : `${fmt(killedShare(f) * 100, 0)} %`} | ${f.ackedWritesLost} | ${f.falselyComplete} | ${notes} |`;
  }),
  '',
  '## 3. Parser fuzzing',
  '',
  'Seeded structure-blind mutations of valid inputs (test/fuzz/fuzz-harness.ts); a case passes only with a correct parse or a typed error, within 2 s, with its input bytes unchanged. NBD frames are sent to a live server (a memory export, and a served CKD volume with a backup running on it); a "crash" there is an internal error or a backend error that is not typed.',
  '',
  '| parser | cases | crashes | hangs | inputs changed | slowest case ms |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...fuzz.map((f) => `| ${f.parser} | ${f.cases} | ${f.crashes} | ${f.hangs} | ${f.inputChanged ?? '—'} | ${f.slowestMs ?? '—'} |`),
  '',
  `## 4. Host write latency during a backup to a target slowed to ${TARGET_MBPS} MB/s`,
  '',
  `Source: a 3390 of ${COUNTS.cylinders} cylinders filled to 100 % (fresh copy for every run). Host load: ${COUNTS.rate} writes/s, each a format write of one random record on a random track past the VTOC (HostLoad, on the thread that owns the volume, through the interceptor chain). The target is emulated by \`--target-mbps ${TARGET_MBPS}\`: one device clock shared by the 2 copy workers, the copy-before-write path and the spool drain. "No session" runs the same load as long as the spooled backup took. Median of ${COUNTS.latencyRuns} run(s).`,
  '',
  '| case | writes | p50 µs | p99 µs | max µs | p99 / no session | backup s | copied out of order |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...Object.entries(latency).map(
    ([name, samples]) =>
      `| ${name} | ${fmt(median(samples.map((s) => s.writes)), 0)} | ${fmt(median(samples.map((s) => s.latencyP50Us)))} | ${fmt(median(samples.map((s) => s.latencyP99Us)))} | ${fmt(median(samples.map((s) => s.latencyMaxUs)), 0)} | ${fmt(p99(name) / p99('no session'), 2)} | ${samples[0]?.seconds !== undefined ? fmt(median(samples.map((s) => s.seconds)), 1) : '—'} | ${samples[0]?.outOfOrder !== undefined ? fmt(median(samples.map((s) => s.outOfOrder)), 0) : '—'} |`,
  ),
  '',
  `With a spool the p99 is ${fmt(spoolRatio, 2)}× the p99 with no session (goal: within 2×): ${spoolRatio <= 2 ? 'met' : '**not met**'}${REDUCED ? ' in this one short run on a small volume, which is noisy; the goal is judged on the median of 3 full runs in bench/RELIABILITY.md' : ''}. Without a spool a copy-before-write waits for the slow target, behind the workers' transfers, so the load also falls behind its rate (fewer writes in the same time).`,
  '',
  '## 5. Trust under attack',
  '',
  '### Stale-lock takeover race',
  '',
  'Child processes race to take over one stale `<image>.lock` (naming a process that is gone) at the same instant, round after round; a holder keeps the lock until every contender has answered, so two holders at once would be counted. The takeover runs under flock(2) on `<image>.lock.guard`.',
  '',
  '| rounds | processes a round | rounds with exactly one holder | most holders in a round |',
  '| ---: | ---: | ---: | ---: |',
  ...lockRaces.map((f) => `| ${f.rounds} | ${f.processes} | ${f.roundsWithOneHolder} | ${f.mostHolders} |`),
  '',
  '### Decompression bombs',
  '',
  'Each bomb is decoded in a child process that measures the time and the growth of its peak RSS; it must end in a typed error within 1 s and under 100 MB of extra RSS.',
  '',
  '| bomb | expands to | error | ms | extra peak RSS MB |',
  '| --- | --- | --- | ---: | ---: |',
  ...bombs.map((f) => `| ${f.case} | ${f.expandsTo} | ${f.code} | ${fmt(f.ms, 0)} | ${fmt(f.maxRssGrowthMB, 1)} |`),
  '',
  '### A server under hostile clients',
  '',
  'A real `snaptape serve` of a CKD volume; the figures are what another, well-behaved client saw meanwhile.',
  '',
  '| attack | what was measured | value | bound |',
  '| --- | --- | ---: | --- |',
  ...fairness.map((f) => `| ${f.case} | ${f.measured} | ${fmt(f.value, 1)} ${f.unit} | ${f.bound} |`),
  '',
  '### Power loss',
  '',
  'An in-process model of the file system keeps every write but counts only what was fsynced (and, for names, what a folder fsync made durable); the technique runs for real, and at every change a crash point is taken and checked twice (renames kept, and only durable names kept). A violation is a record that claims data the disk does not hold.',
  '',
  '| technique | crash points | violations |',
  '| --- | ---: | ---: |',
  ...powerLoss.map((f) => `| ${f.technique} | ${f.crashPoints} | ${f.violations} |`),
  '',
];
mkdirSync(join(OUT, '..'), { recursive: true });
writeFileSync(OUT, `${lines.join('\n')}`);
log(`wrote ${OUT}`);
const zeroes =
  pit.every((f) => f.mismatches === 0) &&
  crashes.every(
    (f) => (f.ackedWritesLost === 0 || typeof f.ackedWritesLost === 'string') && f.falselyComplete === 0 && (killedShare(f) ?? 0) >= MIN_KILLED_SHARE,
  ) &&
  fuzz.every((f) => f.crashes === 0 && f.hangs === 0) &&
  lockRaces.every((f) => f.roundsWithOneHolder === f.rounds) &&
  powerLoss.every((f) => f.violations === 0);
process.exit(testsPassed && zeroes ? 0 : 1);
