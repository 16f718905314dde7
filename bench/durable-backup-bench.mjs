#!/usr/bin/env node
/**
 * Section 1 (durable): a backup as users run it (`snaptape backup`, which fsyncs its tape and
 * checks it before it reports success) against `cp` + `sync` of the same dense 3390-3, with the
 * source cold (the page cache dropped before each run: needs root) and cached (read once before
 * each run). Interleaved rounds: in each round every contender runs once per mode, in an order that
 * rotates. Wall time from spawn to exit; CPU-s from the children's rusage (user + system, via
 * /usr/bin/time), which counts every thread of the backup and both `cp` and `sync`. Also the
 * backup's phases (`summary.phases`) and, in separate runs under a host load of 1,000 writes/s, the
 * longest host write.
 *
 *   node bench/durable-backup-bench.mjs [--rounds 5] [--skip-cold] [--latency-runs 3] [--baseline DIR LABEL]
 *
 * With --baseline, the backups of another build (DIR: a built checkout, e.g. a git worktree of an
 * older commit) run in the same rounds, named LABEL.
 *
 * Prints a Markdown section on stdout. The source is made under bench/work (git-ignored) when it
 * is missing, and reused.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WORK = join(ROOT, 'bench', 'work');
const BIN = join(ROOT, 'bin', 'snaptape');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : Number(args[i + 1]);
};
const ROUNDS = flag('--rounds', 5);
const LATENCY_RUNS = flag('--latency-runs', 3);
const COLD = !args.includes('--skip-cold');
const baselineAt = args.indexOf('--baseline');
const BASELINE_DIR = baselineAt < 0 ? undefined : args[baselineAt + 1];
const BASELINE_LABEL = baselineAt < 0 ? undefined : (args[baselineAt + 2] ?? 'baseline');
if (BASELINE_DIR !== undefined && !existsSync(join(BASELINE_DIR, 'dist'))) throw new Error(`--baseline ${BASELINE_DIR}: no dist/ there (npm run build)`);
const source = join(WORK, 'dense-3390-3.ckd');
const copyOut = join(WORK, 'cp-out.ckd');
const tape = join(WORK, 'durable.aws');
const log = (m) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);

function run(argv, options = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

/** Runs `argv` under /usr/bin/time: wall seconds, CPU-s of it and its children, its stdout. */
function timed(argv) {
  const timeFile = join(WORK, 'time.txt');
  const started = process.hrtime.bigint();
  const r = run(['/usr/bin/time', '-o', timeFile, '-f', '%U %S', ...argv]);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const [user, system] = spawnSync('cat', [timeFile], { encoding: 'utf8' }).stdout.trim().split(/\s+/).map(Number);
  return { wall, cpu: user + system, stdout: r.stdout };
}

function clean() {
  for (const p of [copyOut, tape, `${tape}.map.json`, `${tape}.session.json`, `${tape}.session.layout.json`, `${tape}.session.bitmap`])
    rmSync(p, { force: true });
  run(['sync']);
}

function prepare(mode) {
  clean();
  if (mode === 'cold') writeFileSync('/proc/sys/vm/drop_caches', '3\n');
  else run(['sh', '-c', `cat '${source}' > /dev/null`]);
}

const contenders = {
  'cp + sync': () => timed(['sh', '-c', `cp '${source}' '${copyOut}' && sync`]),
  'snaptape backup, 2 workers': () => backup(2),
  'snaptape backup, 1 worker': () => backup(1),
  ...(BASELINE_DIR === undefined
    ? {}
    : {
        [`${BASELINE_LABEL} backup, 2 workers`]: () => backup(2, [], source, join(BASELINE_DIR, 'bin', 'snaptape')),
        [`${BASELINE_LABEL} backup, 1 worker`]: () => backup(1, [], source, join(BASELINE_DIR, 'bin', 'snaptape')),
      }),
};

function backup(workers, extra = [], image = source, bin = BIN) {
  const t = timed([process.execPath, bin, 'backup', image, '--to', tape, '--force', '--workers', String(workers), '--json', ...extra]);
  const out = JSON.parse(t.stdout);
  return { ...t, phases: out.summary.phases, load: out.load };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 2) => x.toFixed(d);
/**
 * The backup's own phases after its copy: its digests (waiting for the digest pass's last windows,
 * then folding the block digests; each build reports those of these it has), the labels and final
 * fsync, the read-back, and a tracked volume's whole-tape SHA-256.
 */
const afterCopySeconds = (phases) =>
  (phases.digestWaitSeconds ?? 0) + (phases.elementDigestSeconds ?? 0) + phases.syncSeconds + phases.readBackSeconds + (phases.tapeSha256Seconds ?? 0);

mkdirSync(WORK, { recursive: true });
if (!existsSync(source)) {
  log(`making ${source}…`);
  run([process.execPath, BIN, 'init', source, '--type', '3390-3', '--volser', 'DENSE1', '--force']);
  run([process.execPath, BIN, 'fill', source, '--seed', '7', '--percent', '100']);
}

const modes = COLD ? ['cold', 'cached'] : ['cached'];
const results = {};
const loads = [];
const names = Object.keys(contenders);
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of modes) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length];
      prepare(mode);
      loads.push(loadavg()[0]);
      ((results[mode] ??= {})[name] ??= []).push(contenders[name]());
    }
  }
  log(`round ${r + 1}/${ROUNDS} done (load ${loadavg()[0].toFixed(2)})`);
}

// The load writes into the image it backs up: a copy of the source, so the source stays dense.
const loaded = join(WORK, 'latency-source.ckd');
const latency = [];
for (let r = 0; r < LATENCY_RUNS; r++) {
  run(['cp', source, loaded]);
  run(['cp', `${source}.sizes`, `${loaded}.sizes`]);
  prepare('cached');
  latency.push(backup(2, ['--load', 'random:1000', '--load-in-place', '--seed', String(r + 1)], loaded));
  log(`latency run ${r + 1}/${LATENCY_RUNS} done`);
}
for (const p of [loaded, `${loaded}.sizes`, `${loaded}.lock`]) rmSync(p, { force: true });
clean();

const lines = [];
if (BASELINE_DIR !== undefined) lines.push(`Beside this build: "${BASELINE_LABEL}", another build, in the same rounds.`, '');
lines.push(
  `Median of ${ROUNDS} interleaved rounds; 1-minute load average at the runs' starts: median ${fmt(median(loads))}, ${fmt(Math.min(...loads))}–${fmt(Math.max(...loads))}.`,
);
lines.push('');
lines.push(
  '| source | way of copying | wall s | CPU-s | × cp + sync (speed) | × cp + sync (CPU) | copy s | after the copy s | final fsync s | read-back s | flushes |',
);
lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const mode of modes) {
  const base = results[mode]['cp + sync'];
  const baseWall = median(base.map((x) => x.wall));
  const baseCpu = median(base.map((x) => x.cpu));
  for (const name of names) {
    const xs = results[mode][name];
    const wall = median(xs.map((x) => x.wall));
    const cpu = median(xs.map((x) => x.cpu));
    const p = xs[0].phases ? (key) => fmt(median(xs.map((x) => x.phases[key]))) : () => '';
    const after = xs[0].phases ? fmt(median(xs.map((x) => afterCopySeconds(x.phases)))) : '';
    lines.push(
      `| ${mode} | ${name} | ${fmt(wall)} | ${fmt(cpu)} | ${fmt(baseWall / wall)} | ${fmt(cpu / baseCpu)} | ${p('copySeconds')} | ${after} | ${p('syncSeconds')} | ${p('readBackSeconds')} | ${xs[0].phases ? median(xs.map((x) => x.phases.stepFlushes)) : ''} |`,
    );
  }
}
lines.push('');
lines.push("Per round, wall s (in round order; the contenders' order turns each round):");
for (const mode of modes) for (const name of names) lines.push(`- ${mode}, ${name}: ${results[mode][name].map((x) => fmt(x.wall)).join(', ')}`);
lines.push('');
lines.push(
  `Host writes during a cached backup (2 workers) under \`--load random:1000 --load-in-place\`, ${LATENCY_RUNS} runs: longest raw write ${latency.map((l) => fmt(l.load.latencyMaxUs / 1000, 1)).join(', ')} ms; p99.9 ${latency.map((l) => fmt(l.load.latencyP999Us / 1000, 1)).join(', ')} ms; the final fsync took ${latency.map((l) => fmt(l.phases.syncSeconds * 1000, 0)).join(', ')} ms.`,
);
process.stdout.write(`${lines.join('\n')}\n`);
