#!/usr/bin/env node
// Incremental backups from change tracking (issue 23): how many bytes and how long an incremental
// takes against the tracks changed since the full backup, beside the full backup of the same
// volume, on two volume sizes. Each volume is a dense 3390 (95% filled), tracked; its full backup
// is made, then host writes rewrite a share of its tracks (each keeps its size: one data byte
// changes), then `backup --incremental` runs. Times: the copy phase (start instant until every block
// is on the tape) and the whole command (process start-up, final hash, read-back and fsyncs included).
// `--changed N,M` rewrites that many tracks instead of a share, the same count on every volume size,
// so a row pair shows whether the incremental's time follows the change or the volume.
// Prints a Markdown table on stdout; runs dist/.
// Usage: node bench/incremental-bench.mjs [--cyls 200,800] [--shares 1,5 | --changed 150,1500]
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openVolume } from '../dist/api/volume-api.js';
import { Prng } from '../dist/base/prng.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'snaptape');
const WORK = join(ROOT, 'bench', 'work', 'incremental');
const args = process.argv.slice(2);
const list = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1].split(',').map(Number) : fallback);
const CYLINDERS = list('--cyls', [200, 800]);
const SHARES = list('--shares', [1, 5]);
/** Fixed counts of changed tracks (instead of shares): [] unless --changed. */
const COUNTS = list('--changed', []);
const log = (text) => process.stderr.write(`${text}\n`);

function snaptape(...argv) {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`snaptape ${argv.join(' ')} failed (${result.status}): ${result.stderr}`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, stdout: result.stdout };
}

/** Rewrites `count` distinct random tracks past the VTOC through the tracked library open; each keeps its size. */
function rewriteTracks(image, count, seed) {
  const volume = openVolume(image);
  try {
    const prng = new Prng(seed);
    const chosen = new Set();
    while (chosen.size < count) chosen.add(15 + prng.below(volume.ckd.trackCount - 15));
    for (const track of chosen) {
      const records = volume.readTrack(track).records.map((r) => ({ key: r.key, data: Buffer.from(r.data) }));
      if (records[0]) records[0].data[0] ^= 0xff;
      volume.writeTrackRecords(track, records);
    }
  } finally {
    volume.close();
  }
}

const rows = [];
rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
for (const cylinders of CYLINDERS) {
  const image = join(WORK, `v${cylinders}.ckd`);
  log(`incremental bench: ${cylinders} cylinders…`);
  snaptape('init', image, '--type', '3390', '--cyls', String(cylinders), '--volser', 'INC001');
  snaptape('fill', image, '--percent', '95');
  snaptape('track', image);
  const tracks = cylinders * 15;
  const changes = COUNTS.length > 0 ? COUNTS.map((count) => ({ count, share: (100 * count) / tracks })) : SHARES.map((share) => ({ share }));
  for (const { count, share } of changes) {
    const full = join(WORK, `full-${cylinders}-${share}.aws`);
    const fullRun = snaptape('backup', image, '--to', full, '--json');
    const fullSummary = JSON.parse(fullRun.stdout).summary;
    const changed = count ?? Math.max(1, Math.round((tracks * share) / 100));
    rewriteTracks(image, changed, cylinders * 100 + share);
    const inc = join(WORK, `inc-${cylinders}-${share}.aws`);
    const incRun = snaptape('backup', image, '--to', inc, '--incremental', '--json');
    const incSummary = JSON.parse(incRun.stdout).summary;
    const incTracks = incSummary.elements.reduce((n, e) => n + e.blocks, 0);
    rows.push(
      `| ${cylinders} (${tracks} tracks) | ${count === undefined ? `${share}% (${changed})` : `${changed} (${share.toFixed(2)}%)`} | ${fullSummary.tapeBytes} | ${fullSummary.copySeconds.toFixed(2)} / ${fullRun.seconds.toFixed(2)} | ${incTracks} | ${incSummary.tapeBytes} | ${((100 * incSummary.tapeBytes) / fullSummary.tapeBytes).toFixed(2)}% | ${incSummary.copySeconds.toFixed(2)} / ${incRun.seconds.toFixed(2)} |`,
    );
    rmSync(full, { force: true });
    rmSync(inc, { force: true });
  }
}
rmSync(WORK, { recursive: true, force: true });
process.stdout.write(
  [
    '| volume | tracks changed | full tape bytes | full s (copy / command) | incremental tracks | incremental tape bytes | of the full | incremental s (copy / command) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
  ].join('\n'),
);
