#!/usr/bin/env node
// Restore and verify of a backup tape against the tools that read or copy the same file (issue 22):
// `restore --new-volume` against `cp` of the tape (and `cp` then `sync` of the copy, since a restore
// ends with an fsync of its target), `verify` against `sha256sum` of the tape. A dense volume is
// backed up once; then each round runs every command once, interleaved (the order alternates from
// round to round), and the medians are reported with the peak resident set of every restore
// (/usr/bin/time %M, the child's getrusage maximum) and the load average before and after. The page
// cache is warm for all of them: the tape is read by every command of every round.
// Everything is made in a temporary directory under the system's temp dir, removed at the end.
// Prints a Markdown section on stdout.
// With --baseline DIR (a checkout of another revision, built: DIR/bin/snaptape), that build's restore
// and verify run in the same rounds, for a before/after on the same tape.
// Usage: node bench/restore-bench.mjs [--rounds N] [--type 3390-3 | --cylinders C] [--baseline DIR]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'snaptape');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const ROUNDS = Number(option('--rounds', 5));
const CYLINDERS = option('--cylinders', undefined);
const TYPE = CYLINDERS === undefined ? option('--type', '3390-3') : '3390';
const BASELINE = option('--baseline', undefined);
const log = (text) => process.stderr.write(`${text}\n`);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Runs `argv` under /usr/bin/time; returns its wall seconds, CPU seconds (user + system) and peak resident set in bytes. */
function timed(argv, reportFile) {
  const started = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', '-o', reportFile, ...argv], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [kib, user, system] = readFileSync(reportFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { seconds, cpuSeconds: user + system, rssBytes: kib * 1024 };
}

const work = mkdtempSync(join(tmpdir(), 'snaptape-restore-bench-'));
try {
  const source = join(work, 'source.ckd');
  const tape = join(work, 'full.aws');
  const copy = join(work, 'copy.aws');
  const restored = join(work, 'restored.ckd');
  const report = join(work, 'time.txt');
  const snaptape = (...a) => timed([process.execPath, BIN, ...a], report);
  const before = (...a) => timed([process.execPath, join(BASELINE ?? '', 'bin', 'snaptape'), ...a], report);
  log(`making a dense ${TYPE}${CYLINDERS === undefined ? '' : ` of ${CYLINDERS} cylinders`} and its backup tape in ${work}…`);
  snaptape('init', source, '--type', TYPE, ...(CYLINDERS === undefined ? [] : ['--cyls', CYLINDERS]), '--volser', 'DENSE3');
  snaptape('fill', source, '--seed', '7', '--percent', '100');
  snaptape('backup', source, '--to', tape);
  const tapeBytes = statSync(tape).size;
  // The restore is checked once, outside the timings: the image must be the source, byte for byte.
  snaptape('restore', tape, '--to', restored, '--new-volume');
  timed(['cmp', source, restored], report);
  rmSync(restored);
  rmSync(`${restored}.sizes`, { force: true });
  rmSync(source);
  rmSync(`${source}.sizes`, { force: true });

  const steps = {
    cp: () => {
      const t = timed(['cp', tape, copy], report);
      rmSync(copy);
      return t;
    },
    cpSync: () => {
      const started = process.hrtime.bigint();
      timed(['cp', tape, copy], report);
      timed(['sync', copy], report);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      rmSync(copy);
      return { seconds, cpuSeconds: Number.NaN, rssBytes: 0 };
    },
    restore: () => {
      const t = snaptape('restore', tape, '--to', restored, '--new-volume');
      rmSync(restored);
      rmSync(`${restored}.sizes`, { force: true });
      return t;
    },
    sha256sum: () => timed(['sha256sum', tape], report),
    verify: () => snaptape('verify', tape),
    ...(BASELINE === undefined
      ? {}
      : {
          restoreBefore: () => {
            const t = before('restore', tape, '--to', restored, '--new-volume');
            rmSync(restored);
            rmSync(`${restored}.sizes`, { force: true });
            return t;
          },
          verifyBefore: () => before('verify', tape),
        }),
  };
  const times = Object.fromEntries(Object.keys(steps).map((k) => [k, []]));
  const loadBefore = loadavg();
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? Object.keys(steps) : Object.keys(steps).reverse();
    log(`round ${round}/${ROUNDS}: ${order.join(', ')} (load ${loadavg()})`);
    for (const name of order) times[name].push(steps[name]());
  }
  const loadAfter = loadavg();

  const mb = tapeBytes / 1e6;
  const seconds = (name) => median(times[name].map((t) => t.seconds));
  const rss = (name) => times[name].map((t) => t.rssBytes / 2 ** 20);
  const cpu = (name) => median(times[name].map((t) => t.cpuSeconds));
  const cell = (name) =>
    `${seconds(name).toFixed(2)} s (${(mb / seconds(name)).toFixed(0)} MB/s${Number.isNaN(cpu(name)) ? '' : `, ${cpu(name).toFixed(2)} CPU-s`})`;
  const ratio = (ours, theirs) => seconds(theirs) / seconds(ours);
  const goal = (r, at) => (r >= at ? `holds (${r.toFixed(2)}× ≥ ${at}×)` : `not met (${r.toFixed(2)}× < ${at}×)`);
  const restoreRss = rss('restore');
  console.log(
    [
      `A backup tape of ${mb.toFixed(0)} MB (a dense ${TYPE}${CYLINDERS === undefined ? '' : ` of ${CYLINDERS} cylinders`}, every track full), ${ROUNDS} rounds,`,
      `each running every command once, interleaved (the order reversed every other round); medians. Load average`,
      `${loadBefore} before, ${loadAfter} after (a 2-core machine shared with other work). Page cache warm for all.`,
      '',
      'Each cell: the median wall time (throughput), and the median CPU seconds (user + system) of the command.',
      '',
      '| what | snaptape | reference | throughput ratio (reference time / snaptape time) |',
      '| --- | --- | --- | --- |',
      `| \`restore --new-volume\` against \`cp\` of the tape | ${cell('restore')} | ${cell('cp')} | ${ratio('restore', 'cp').toFixed(2)}× |`,
      `| \`restore --new-volume\` against \`cp\` then \`sync\` of the copy | ${cell('restore')} | ${cell('cpSync')} | ${ratio('restore', 'cpSync').toFixed(2)}× |`,
      `| \`verify\` against \`sha256sum\` of the tape | ${cell('verify')} | ${cell('sha256sum')} | ${ratio('verify', 'sha256sum').toFixed(2)}× |`,
      ...(BASELINE === undefined
        ? []
        : [
            `| \`restore --new-volume\` against the baseline build's | ${cell('restore')} | ${cell('restoreBefore')} | ${ratio('restore', 'restoreBefore').toFixed(2)}× |`,
            `| \`verify\` against the baseline build's | ${cell('verify')} | ${cell('verifyBefore')} | ${ratio('verify', 'verifyBefore').toFixed(2)}× |`,
          ]),
      '',
      `Peak resident set of each restore: ${restoreRss.map((m) => m.toFixed(0)).join(', ')} MiB (max ${Math.max(...restoreRss).toFixed(0)} MiB);`,
      `of each verify: ${rss('verify')
        .map((m) => m.toFixed(0))
        .join(', ')} MiB.`,
      ...(BASELINE === undefined
        ? []
        : [
            `The baseline build's restores: ${rss('restoreBefore')
              .map((m) => m.toFixed(0))
              .join(', ')} MiB.`,
          ]),
      '',
      `Goals: restore ≥ 0.8× \`cp\`: ${goal(ratio('restore', 'cp'), 0.8)}; restore peak RSS ≤ 256 MiB: ${Math.max(...restoreRss) <= 256 ? 'holds' : 'not met'};`,
      `verify ≥ 0.8× \`sha256sum\`: ${goal(ratio('verify', 'sha256sum'), 0.8)}.`,
      '',
      'Each round (s): ' +
        Object.keys(steps)
          .map((k) => `${k} ${times[k].map((t) => t.seconds.toFixed(1)).join('/')}`)
          .join('; ') +
        '.',
    ].join('\n'),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
