#!/usr/bin/env node
// snaptape benchmarks (issue 4 item 9, issue 5): writes bench/RESULTS.md.
//
// Everything is measured side by side in one run, on the same files, on this machine; each figure
// is the median of several runs (the machine is noisy: compare ratios from one run, never figures from two).
//   1. Backup throughput of a dense 3390-3 against `cp` and `qemu-img convert` of the same image,
//      with 1 and 2 workers (copy phase alone, and in total with the final hash and read-back).
//   2. Host write latency p50/p99/p99.9/max at 1,000 writes/s, raw and corrected for coordinated
//      omission, with no session and during a backup.
//   3. Tracks copied out of order against the host write rate.
//   4. NBD read/write throughput of `snaptape serve` against `qemu-nbd` on the dense source, cold
//      and cached, with each server's CPU time (bench/nbd-bench.mjs); run alone with --only nbd.
//   5. `init` time of a 3390-9 and the on-disk share of a new 3390-3 (bench/init-time.mjs).
//   6-9. The techniques' own benches: instant snapshot time against volume size, mirror resync
//      time against changed tracks and the mirror's initial copy and resync against `cp`, clone
//      with and without precopy, CCKD throughput.
//   10. Backup throughput with the live page open against none (bench/live-bench.mjs).
//   13. Incremental backups: bytes and time against the tracks changed (bench/incremental-bench.mjs),
//       run with --only incremental (its section is replaced in the existing RESULTS.md).
//   11. The copy engine against the build before it (bench/engine-compare.mjs): backup copy phase,
//      host write p99 during a backup, clone precopy and mirror resync, both builds interleaved.
//
//   14. The tape library's S3 vault: vault and recall against `aws s3 cp` on a real radosgw
//       (bench/vault-bench.mjs; needs Ceph and the AWS CLI), run with --only vault.
//   15. Restore and verify of a dense 3390-3's tape against `cp` and `sha256sum` of the tape, with
//       each restore's peak RSS (bench/restore-bench.mjs), run with --only restore.
//   Sections 12 and later run only with --only; a full run keeps them as they were.
//
//   16. Host write latency through an external NBD client against qemu-nbd, with no session and
//       during a backup (bench/nbd-latency.mjs), run with --only nbd-latency.
// Usage: npm run bench [-- --runs N --quick --baseline REV --latency-only] [-- --only engine|mirror|incremental|vault|restore|nbd|nbd-latency]
//   [--latency-baseline DIR LABEL] (section 16: a built checkout of another revision, run beside this one)
//   [--nbd-baseline DIR LABEL] (section 4: the same)
//   --quick uses a 3390 of 1,000 cylinders instead of a 3390-3, for a fast look.
//   --baseline REV is the revision section 11 compares with (default: engine-compare.mjs's).
//   --only engine runs section 11 alone and replaces that section in the existing RESULTS.md;
//   --only mirror does the same for section 7 (bench/mirror-bench.mjs, with --runs rounds).
//   --latency-only measures section 2 alone and prints it instead of writing RESULTS.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostLoadBaselineScript, median } from './bench-common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'snaptape');
const WORK = join(ROOT, 'bench', 'work');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
/** Runs per measurement; the median is reported. */
const RUNS = option('--runs', 3);
const QUICK = args.includes('--quick');
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const ALONE = ['engine', 'incremental', 'mirror', 'vault', 'restore', 'nbd', 'nbd-latency'];
if (ONLY !== undefined && !ALONE.includes(ONLY)) throw new Error(`--only ${ONLY}: only ${ALONE.map((a) => `"${a}"`).join(', ')} can run alone`);
/** Measure and print section 2 (host write latency) only. */
const LATENCY_ONLY = args.includes('--latency-only');
/** The write rate of the latency goal (issue 4: p99 under 5 ms at 1,000 writes/s). */
const LATENCY_RATE = 1000;
/** How long the no-session latency baseline runs. */
const BASELINE_SECONDS = 5;
const OOO_RATES = [0, 250, 1000, 4000];

mkdirSync(WORK, { recursive: true });
const source = join(WORK, QUICK ? 'dense-1000cyl.ckd' : 'dense-3390-3.ckd');
const target = join(WORK, 'target.bin');
const tape = join(WORK, 'bench.aws');

function run(argv, options = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed (${result.status}): ${result.stderr}`);
  return { seconds, stdout: result.stdout };
}
const snaptape = (...a) => run([process.execPath, BIN, ...a]);
const fmt = (x, digits = 2) => Number(x).toFixed(digits);
const log = (text) => process.stderr.write(`${text}\n`);

const ENGINE_TITLE = '## 11. The copy engine against the build before it';
/** Section 11: bench/engine-compare.mjs, with the rounds and the baseline asked for. */
function engineSection() {
  log('engine compare…');
  const extra = [...(args.includes('--baseline') ? ['--baseline', args[args.indexOf('--baseline') + 1]] : []), '--rounds', String(Math.max(5, RUNS))];
  const table = run([process.execPath, join(ROOT, 'bench', 'engine-compare.mjs'), ...extra], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout.trim();
  return [ENGINE_TITLE, '', table, ''];
}
const INCREMENTAL_TITLE = '## 13. Incremental backups: bytes and time against the tracks changed';
/**
 * Section 13: bench/incremental-bench.mjs on a 200- and a 1600-cylinder dense 3390, with the same
 * counts of changed tracks on both, so the incremental's copy phase can be set beside the volume size.
 */
function incrementalSection() {
  log('incremental backups…');
  const table = run([process.execPath, join(ROOT, 'bench', 'incremental-bench.mjs'), '--cyls', '200,1600', '--changed', '150,1500'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).stdout.trim();
  return [INCREMENTAL_TITLE, '', table, ''];
}
const MIRROR_TITLE = '## 7. Mirror: resync against changed tracks, and against cp';
/** Section 7: bench/mirror-bench.mjs, local and remote, with `rounds` rounds against cp. */
function mirrorSection(rounds) {
  log('mirror-bench.mjs…');
  const table = run([process.execPath, join(ROOT, 'bench', 'mirror-bench.mjs'), '--remote', '--rounds', String(rounds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).stdout.trim();
  return [MIRROR_TITLE, '', table, ''];
}
const VAULT_TITLE = '## 14. Tape library vault: vault and recall against aws s3 cp';
/** Section 14: bench/vault-bench.mjs, a backup tape to a real radosgw on loopback against the AWS CLI. */
function vaultSection(rounds) {
  log('vault-bench.mjs…');
  const table = run([process.execPath, join(ROOT, 'bench', 'vault-bench.mjs'), '--rounds', String(rounds), '--cylinders', '200'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).stdout.trim();
  return [VAULT_TITLE, '', table, ''];
}
const RESTORE_TITLE = '## 15. Restore and verify against cp and sha256sum';
/** Section 15: bench/restore-bench.mjs, a dense 3390-3's tape, `rounds` interleaved rounds. */
function restoreSection(rounds) {
  log('restore-bench.mjs…');
  const table = run([process.execPath, join(ROOT, 'bench', 'restore-bench.mjs'), '--rounds', String(rounds), ...(QUICK ? ['--cylinders', '1000'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).stdout.trim();
  return [RESTORE_TITLE, '', table, ''];
}
const NBD_LATENCY_TITLE = '## 16. Host write latency through an external NBD client';
/** Section 16: bench/nbd-latency.mjs, copies of the dense source served by snaptape and by qemu-nbd, `rounds` rounds. */
function nbdLatencySection(rounds) {
  ensureSource();
  log('nbd-latency.mjs…');
  // --latency-baseline DIR LABEL: a built checkout whose snaptape runs beside this one, interleaved.
  const at = args.indexOf('--latency-baseline');
  const baseline = at >= 0 ? ['--baseline-dir', args[at + 1], '--baseline-label', args[at + 2]] : [];
  const table = run([process.execPath, join(ROOT, 'bench', 'nbd-latency.mjs'), '--image', source, '--rounds', String(rounds), ...baseline], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).stdout.trim();
  // The section's text (what the figures mean, how they were found) lives beside the bench, so that a new run keeps it.
  const notesPath = join(ROOT, 'bench', 'nbd-latency-notes.md');
  const notes = existsSync(notesPath) ? ['', readFileSync(notesPath, 'utf8').trim()] : [];
  return [NBD_LATENCY_TITLE, '', table, ...notes, ''];
}
const NBD_TITLE = '## 4. NBD throughput: snaptape serve against qemu-nbd';
/** Section 4: bench/nbd-bench.mjs on the dense source (made first if absent), `rounds` interleaved rounds. */
function nbdSection(rounds) {
  ensureSource();
  log('nbd-bench.mjs…');
  // --nbd-baseline DIR LABEL: a built checkout whose snaptape serve runs beside this one, interleaved.
  const at = args.indexOf('--nbd-baseline');
  const baseline = at >= 0 ? ['--baseline-dir', args[at + 1], '--baseline-label', args[at + 2]] : [];
  const table = run([process.execPath, join(ROOT, 'bench', 'nbd-bench.mjs'), '--image', source, '--runs', String(rounds), ...baseline], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).stdout.trim();
  const notesPath = join(ROOT, 'bench', 'nbd-notes.md');
  const notes = existsSync(notesPath) ? ['', readFileSync(notesPath, 'utf8').trim()] : [];
  return [NBD_TITLE, '', table, ...notes, ''];
}

// ---- the dense source volume ---------------------------------------------------------------
/** Makes the dense source once (sections 1 to 4 read it); later runs reuse it. */
function ensureSource() {
  if (existsSync(source)) return;
  log(`making ${source} (dense: every track full)…`);
  if (QUICK) snaptape('init', source, '--type', '3390', '--cyls', '1000', '--volser', 'DENSE1', '--force');
  else snaptape('init', source, '--type', '3390-3', '--volser', 'DENSE1', '--force');
  snaptape('fill', source, '--seed', '7', '--percent', '100');
}

if (ONLY !== undefined) {
  // The other sections stay as the last full run wrote them; this one is replaced (found by its
  // number, so a section whose title changed is replaced too) or added.
  const sections = {
    engine: [ENGINE_TITLE, () => engineSection()],
    incremental: [INCREMENTAL_TITLE, () => incrementalSection()],
    mirror: [MIRROR_TITLE, () => mirrorSection(Math.max(5, RUNS))],
    vault: [VAULT_TITLE, () => vaultSection(Math.max(5, RUNS))],
    restore: [RESTORE_TITLE, () => restoreSection(Math.max(5, RUNS))],
    nbd: [NBD_TITLE, () => nbdSection(Math.max(5, RUNS))],
    'nbd-latency': [NBD_LATENCY_TITLE, () => nbdLatencySection(Math.max(5, RUNS))],
  };
  const [title, make] = sections[ONLY];
  const resultsPath = join(ROOT, 'bench', 'RESULTS.md');
  // Made first, read after: the file may have been edited while the section's benches ran.
  const section = make().join('\n');
  const old = readFileSync(resultsPath, 'utf8');
  const start = old.indexOf(`\n${title.slice(0, title.indexOf('.') + 1)} `) + 1;
  const next = start <= 0 ? -1 : old.indexOf('\n## ', start + title.length);
  const updated = start <= 0 ? `${old.trimEnd()}\n\n${section}\n` : `${old.slice(0, start)}${section}${next < 0 ? '\n' : old.slice(next)}`;
  writeFileSync(resultsPath, updated);
  log(`wrote the section "${title}" of bench/RESULTS.md`);
  process.exit(0);
}

ensureSource();
const imageBytes = statSync(source).size;
const usedBytes = statSync(source).blocks * 512;
log(`source ${source}: ${(imageBytes / 1e9).toFixed(2)} GB, ${(usedBytes / 1e9).toFixed(2)} GB on disk`);

// ---- 2 (measured after 1). host write latency, raw and corrected -----------------------------
/** Runs the no-session baseline and backups with 1 and 2 workers under a load, RUNS times. */
function measureLatency() {
  const baselineScript = hostLoadBaselineScript(ROOT, source, LATENCY_RATE, BASELINE_SECONDS * 1000);
  const latency = { 'no session': [], 'backup, 1 worker': [], 'backup, 2 workers': [] };
  for (let r = 0; r < RUNS; r++) {
    latency['no session'].push(JSON.parse(run([process.execPath, '--input-type=module', '-e', baselineScript]).stdout));
    for (const workers of [1, 2])
      latency[`backup, ${workers} worker${workers > 1 ? 's' : ''}`].push(
        backup(workers, ['--load', `random:${LATENCY_RATE}`, '--load-in-place', '--seed', String(r + 1)]).load,
      );
    log(`latency run ${r + 1}/${RUNS} done`);
  }
  rmSync(tape, { force: true });
  return latency;
}

/** Section 2 of RESULTS.md: raw and corrected p50/p99/p99.9/max (medians over the runs). */
function latencySection(latency) {
  const out = [`## 2. Host write latency at ${LATENCY_RATE.toLocaleString('en')} writes/s`, ''];
  out.push(
    'Each write is a format write of one random record (1 B to 8 KiB) on a random track past the VTOC, made by `HostLoad` on the thread that owns the volume, through the interceptor chain. During a backup a write to a track not yet copied first copies the old track to its tape position (copy-before-write).',
    '',
  );
  out.push(
    "**Raw** latency is timed from when a write started; **corrected** latency from when it was due on the fixed-rate schedule (write k at k / rate after the load began), which counts the time a write waited behind a blocked thread (coordinated omission). Both are kept in HdrHistograms (3 significant digits, hdr-histogram-js). The corrected figures include the load generator's own 2 ms timer tick, so even with no session a write may be up to about 2 ms late; compare each case with the no-session row.",
    '',
  );
  out.push(
    '| case | writes (median) | raw p50 µs | raw p99 µs | raw p99.9 µs | raw max µs | corrected p50 µs | corrected p99 µs | corrected p99.9 µs | corrected max µs |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  const col = (samples, key, digits) => fmt(median(samples.map((s) => s[key])), digits);
  for (const [name, samples] of Object.entries(latency)) {
    out.push(
      `| ${name} | ${col(samples, 'writes', 0)} | ${col(samples, 'latencyP50Us', 1)} | ${col(samples, 'latencyP99Us', 1)} | ${col(samples, 'latencyP999Us', 0)} | ${col(samples, 'latencyMaxUs', 0)} | ${col(samples, 'correctedP50Us', 1)} | ${col(samples, 'correctedP99Us', 1)} | ${col(samples, 'correctedP999Us', 0)} | ${col(samples, 'correctedMaxUs', 0)} |`,
    );
  }
  return out;
}

// ---- 1. throughput -------------------------------------------------------------------------
const ways = {
  cp: () => run(['cp', source, target]).seconds,
  'cp + sync': () => run(['sh', '-c', `cp "${source}" "${target}" && sync -f "${target}"`]).seconds,
  'qemu-img convert -O raw': () => run(['qemu-img', 'convert', '-O', 'raw', source, target]).seconds,
};
const backup = (workers, extra = []) => {
  const out = snaptape('backup', source, '--to', tape, '--force', '--workers', String(workers), '--json', ...extra);
  const summary = JSON.parse(out.stdout).summary;
  return { wall: out.seconds, summary, load: JSON.parse(out.stdout).load };
};
if (LATENCY_ONLY) {
  // Section 2 alone, printed (RESULTS.md is not written): for regenerating that table.
  console.log(latencySection(measureLatency()).join('\n'));
  process.exit(0);
}

/**
 * Before every timed run: flush the dirty pages the previous run left (untimed), so that no run
 * pays for another's writeback. The source stays in the page cache.
 */
const settle = () => {
  rmSync(target, { force: true });
  run(['sync']);
};
/** Throughput rounds: more than the other sections, since writeback makes single runs noisy. */
const THROUGHPUT_RUNS = Math.max(RUNS, 5);
const contenders = [
  ...Object.entries(ways).map(([name, fn]) => [name, () => ({ total: fn() })]),
  ...[1, 2].map((workers) => [
    `snaptape backup, ${workers} worker${workers > 1 ? 's' : ''}`,
    () => {
      const b = backup(workers);
      return { total: b.summary.seconds, copy: b.summary.copySeconds, wall: b.wall };
    },
  ]),
];
const throughput = {};
for (let r = 0; r < THROUGHPUT_RUNS; r++) {
  // The order rotates each round, so that no contender always follows the same one.
  for (let k = 0; k < contenders.length; k++) {
    const [name, fn] = contenders[(k + r) % contenders.length];
    settle();
    (throughput[name] ??= []).push(fn());
  }
  log(`throughput run ${r + 1}/${THROUGHPUT_RUNS} done`);
}
settle();
const cpMedian = median(throughput.cp.map((x) => x.total));

// ---- 2. host write latency -----------------------------------------------------------------
const latencyLines = latencySection(measureLatency());

// ---- 3. out-of-order copies against the write rate ------------------------------------------
const ooo = {};
for (let r = 0; r < RUNS; r++) {
  for (const rate of OOO_RATES) {
    const b = backup(2, rate > 0 ? ['--load', `random:${rate}`, '--load-in-place', '--seed', String(r + 1)] : []);
    (ooo[rate] ??= []).push({
      ooo: b.summary.copiedOutOfOrder,
      writes: b.load?.writes ?? 0,
      total: b.summary.copiedInOrder + b.summary.copiedOutOfOrder,
      seconds: b.summary.seconds,
    });
  }
  log(`out-of-order run ${r + 1}/${RUNS} done`);
}
rmSync(tape, { force: true });
rmSync(`${tape}.session.json`, { force: true });
rmSync(`${tape}.session.layout.json`, { force: true });

// ---- 4 and 5: the NBD and init benches --------------------------------------------------------
log('NBD bench…');
const nbd = nbdSection(Math.max(5, RUNS));
log('init bench…');
const init = run([process.execPath, join(ROOT, 'bench', 'init-time.mjs'), '--runs', String(RUNS)]).stdout.trim();
const bench = (script, extra) => {
  log(`${script}…`);
  return run([process.execPath, join(ROOT, 'bench', script), ...extra]).stdout.trim();
};
const snapshot = bench('snapshot-bench.mjs', ['--runs', String(Math.max(3, RUNS))]);
const mirror = mirrorSection(Math.max(3, RUNS)).slice(2).join('\n').trim();
const clone = bench('clone-bench.mjs', QUICK ? ['--quick'] : []);
const cckd = bench('cckd-bench.mjs', ['--cyls', '100', '--runs', String(RUNS), '--skip-bzip2']);
const cckdSmall = bench('cckd-bench.mjs', ['--cyls', '10', '--runs', '1']);
const live = bench('live-bench.mjs', ['--cyls', '1000', '--runs', '5']);
const engine = engineSection();

// ---- report ----------------------------------------------------------------------------------
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const lines = [];
lines.push('# Benchmark results', '');
lines.push(
  `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench\` on ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}.`,
);
lines.push(
  `Every figure is the median of ${RUNS} runs made side by side in one run of the script (the tools interleaved). Source: ${QUICK ? 'a 3390 of 1,000 cylinders' : 'a 3390-3 (3,339 cylinders)'}, filled to 100% by \`snaptape fill\` (two 27,998-byte blocks a track), ${(imageBytes / 1e9).toFixed(2)} GB. The page cache holds the source throughout (this machine has the memory for it), so the figures measure the copy, not the disk.`,
);
lines.push('', '## 1. Backup throughput against cp and qemu-img convert', '');
lines.push(
  `Median of ${THROUGHPUT_RUNS} rounds; before every timed run the dirty pages of the previous one are flushed (\`sync\`, untimed), and the order of the contenders rotates each round. "copy phase" ends when the last track is on the tape; "total" adds the SHA-256 of each element (read back from the tape), the labels, an fsync of the tape and its sequential read-back check, all of which a backup does before it reports success. \`cp\` and \`qemu-img\` do not fsync; \`cp + sync\` is the durable equivalent. Ratios are against the median \`cp\`.`,
  '',
);
lines.push('| way of copying | copy phase s | total s | MB/s (total) | × cp (copy phase) | × cp (total) |', '| --- | ---: | ---: | ---: | ---: | ---: |');
for (const [name, samples] of Object.entries(throughput)) {
  const total = median(samples.map((x) => x.total));
  const copy = samples[0].copy !== undefined ? median(samples.map((x) => x.copy)) : total;
  lines.push(`| ${name} | ${fmt(copy)} | ${fmt(total)} | ${fmt(imageBytes / 1e6 / total, 0)} | ${fmt(cpMedian / copy)} | ${fmt(cpMedian / total)} |`);
}
lines.push('', ...latencyLines);
lines.push('', '## 3. Tracks copied out of order against the host write rate (2 workers)', '');
lines.push(
  '| host writes/s asked | writes during the backup | tracks copied out of order | share of all tracks | backup s |',
  '| ---: | ---: | ---: | ---: | ---: |',
);
for (const rate of OOO_RATES) {
  const s = ooo[rate];
  lines.push(
    `| ${rate} | ${fmt(median(s.map((x) => x.writes)), 0)} | ${fmt(median(s.map((x) => x.ooo)), 0)} | ${fmt((100 * median(s.map((x) => x.ooo))) / s[0].total, 2)}% | ${fmt(median(s.map((x) => x.seconds)))} |`,
  );
}
lines.push('', ...nbd);
lines.push('## 5. Volume creation', '', '```', init, '```', '');
lines.push('## 6. Instant snapshot: time against volume size', '', snapshot, '');
lines.push(MIRROR_TITLE, '', mirror, '');
lines.push('## 8. Clone: with and without precopy', '', clone, '');
lines.push('## 9. CCKD against uncompressed CKD', '', cckd, '', 'bzip2 (pure-JS compressor), on a 3390 of 10 cylinders:', '', cckdSmall, '');
lines.push('## 10. The live page: backup throughput with and without it', '', live, '');
lines.push(...engine);
// The sections a full run does not make (those that run with --only: 12 and later) stay as they were.
const resultsFile = join(ROOT, 'bench', 'RESULTS.md');
if (existsSync(resultsFile)) {
  const made = new Set(lines.filter((l) => l.startsWith('## ')).map((l) => l.slice(0, l.indexOf('.') + 1)));
  for (const section of readFileSync(resultsFile, 'utf8')
    .split(/\n(?=## \d+\. )/)
    .slice(1)) {
    if (!made.has(section.slice(0, section.indexOf('.') + 1))) lines.push(section.trimEnd(), '');
  }
}
const notesPath = join(ROOT, 'bench', 'NOTES.md');
if (existsSync(notesPath)) lines.push(readFileSync(notesPath, 'utf8').trim(), '');
writeFileSync(resultsFile, `${lines.join('\n')}\n`);
log('wrote bench/RESULTS.md');
