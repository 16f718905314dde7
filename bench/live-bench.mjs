#!/usr/bin/env node
// Live view bench (issue 12): backup throughput with the live page open against no page. The
// "page" is what the page does over the control API while a backup runs: a server-sent-events
// subscription and a track-map request about 4 times a second (GET /sessions/:id/map).
// Runs alternate (plain, with page), on one `snaptape serve` of a filled 3390; medians are reported.
// Usage: npm run build && node bench/live-bench.mjs [--cyls N] [--runs N]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../dist/api/control-client.js';
import { median } from './bench-common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'snaptape');
const WORK = join(ROOT, 'bench', 'work', 'live');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const CYLINDERS = option('--cyls', 1000);
const RUNS = option('--runs', 5);
/** The page asks for the map about 4 times a second. */
const MAP_INTERVAL_MS = 250;

rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const image = join(WORK, 'live.ckd');
const cli = (...a) => {
  const r = spawnSync(process.execPath, [BIN, ...a], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`snaptape ${a.join(' ')}: ${r.stderr}`);
};
cli('init', image, '--type', '3390', '--cyls', String(CYLINDERS), '--volser', 'LIVE01');
cli('fill', image, '--seed', '5', '--percent', '100');

const socket = join(WORK, 'ctl.sock');
const server = spawn(process.execPath, [BIN, 'serve', image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
await new Promise((resolve, reject) => {
  server.stdout.on('data', (d) => {
    if (String(d).includes('control')) resolve();
  });
  server.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
  setTimeout(() => reject(new Error('serve did not start')), 20_000);
});
const client = new ControlClient({ kind: 'unix', socketPath: socket });
const getMap = (id) =>
  new Promise((resolve) => {
    const req = request({ socketPath: socket, path: `/sessions/${id}/map` }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', resolve);
    req.end();
  });

async function oneBackup(withPage, round) {
  spawnSync('sync');
  const started = await client.startSession({ type: 'backup', volume: 'live', tape: join(WORK, `t${round % 2}.aws`), force: true, workers: 2 });
  let timer;
  let subscription;
  let maps = 0;
  if (withPage) {
    subscription = await client.events({}, () => undefined);
    timer = setInterval(() => {
      void getMap(started.id).then(() => maps++);
    }, MAP_INTERVAL_MS);
  }
  const done = await client.waitForSession(started.id);
  if (timer) clearInterval(timer);
  subscription?.close();
  if (done.state !== 'completed') throw new Error(`backup ${started.id} ${done.state}`);
  return { copy: done.summary.copySeconds, total: done.summary.seconds, bytes: done.summary.bytes, maps };
}

const results = { plain: [], page: [] };
for (let r = 0; r < RUNS; r++) {
  const order = r % 2 === 0 ? ['plain', 'page'] : ['page', 'plain'];
  for (const kind of order) results[kind].push(await oneBackup(kind === 'page', r));
  process.stderr.write(`live bench round ${r + 1}/${RUNS}\n`);
}
server.kill('SIGTERM');
const mbps = (runs, key) => median(runs.map((x) => x.bytes / 1e6 / x[key]));
const plainCopy = mbps(results.plain, 'copy');
const pageCopy = mbps(results.page, 'copy');
console.log(
  `Backup through snaptape serve of a filled 3390 of ${CYLINDERS} cylinders (${(results.plain[0].bytes / 1e9).toFixed(2)} GB), 2 workers, ${RUNS} rounds alternating, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}; the page = an SSE subscription plus GET /sessions/:id/map every ${MAP_INTERVAL_MS} ms.`,
);
console.log('');
console.log('| run | copy phase MB/s (median) | total MB/s (median) | map requests (median) |');
console.log('| --- | ---: | ---: | ---: |');
console.log(`| no page | ${plainCopy.toFixed(0)} | ${mbps(results.plain, 'total').toFixed(0)} | 0 |`);
console.log(`| live page open | ${pageCopy.toFixed(0)} | ${mbps(results.page, 'total').toFixed(0)} | ${median(results.page.map((x) => x.maps))} |`);
console.log('');
console.log(
  `With the page open, copy throughput is ${((pageCopy / plainCopy) * 100).toFixed(1)}% of the throughput with no page (goal: within 5%, i.e. at least 95%).`,
);
rmSync(WORK, { recursive: true, force: true });
