#!/usr/bin/env node
// NBD throughput of `snaptape serve` against `qemu-nbd` serving the same raw image, side by side.
//
// One CKD volume (3390, --cyls N, filled 60 %) is served by snaptape; its flat view (the track
// slots after the image header, byte for byte what the snaptape export shows) is written to a raw
// file and served by qemu-nbd. Then, alternating between the servers for RUNS rounds:
//   read:  nbdcopy nbd://…  null:          (whole export, nbdcopy's default 4 connections)
//   write: nbdcopy flat.raw nbd://…        (the same bytes back, so CKD tracks stay decodable;
//          nbdcopy sends the all-zero track tails as WRITE_ZEROES, which qemu-nbd turns into
//          fallocate calls on the raw file and snaptape into plain zero writes)
//   write random: nbdcopy random.raw nbd://…  (incompressible, no zero runs; CKD tracks become
//          raw slots, which snaptape accepts and sizes as whole slots)
// and prints a Markdown table of medians. Needs `npm run build`, qemu-utils and libnbd-bin.
//
// Usage: node bench/nbd-bench.mjs [--cyls 200] [--runs 5] [--connections 4]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVolume, openVolume } from '../dist/api/volume-api.js';
import { fillVolume } from '../dist/vtoc/volume-fill.js';
import { median } from './bench-common.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const CYLINDERS = option('--cyls', 200);
const RUNS = option('--runs', 5);
const CONNECTIONS = option('--connections', 4);
/** A server that is not listening after this long is broken. */
const START_TIMEOUT_MS = 20_000;

const BIN = fileURLToPath(new URL('../bin/snaptape', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'snaptape-nbd-bench-'));
const children = [];

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function waitForNbd(url) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  // Bounded by the deadline: poll with nbdinfo until the export answers.
  while (Date.now() < deadline) {
    if (spawnSync('nbdinfo', ['--size', url]).status === 0) return;
    spawnSync('sleep', ['0.1']);
  }
  throw new Error(`${url} did not come up in ${START_TIMEOUT_MS} ms`);
}

function timed(argv) {
  const start = process.hrtime.bigint();
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${result.stderr}`);
  return seconds;
}

try {
  // The volume and its flat view.
  const image = join(dir, 'bench.ckd');
  const volume = createVolume(image, { type: '3390', cylinders: CYLINDERS, volser: 'BENCH1' });
  fillVolume(volume, { seed: 1, percent: 60 });
  volume.close();
  const flat = join(dir, 'flat.raw');
  const view = openVolume(image, { readOnly: true });
  const sizeBytes = view.flatSizeBytes;
  writeFileSync(flat, view.readFlat(0, sizeBytes));
  view.close();
  const random = join(dir, 'random.raw');
  writeFileSync(random, randomBytes(sizeBytes));
  const qemuImage = join(dir, 'qemu.raw');
  writeFileSync(qemuImage, spawnSync('cat', [flat], { maxBuffer: 2 * sizeBytes }).stdout);

  // The two servers.
  const snapPort = await freePort();
  const snap = spawn(
    process.execPath,
    [BIN, 'serve', image, '--nbd', `127.0.0.1:${snapPort}`, '--insecure-tcp', '--control', join(dir, 'ctl.sock'), '--json'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(snap);
  const qemuPort = await freePort();
  const qemu = spawn('qemu-nbd', ['-f', 'raw', '-x', 'bench', '-b', '127.0.0.1', '-p', String(qemuPort), '-t', '-e', '16', '--cache=writeback', qemuImage], {
    stdio: 'inherit',
  });
  children.push(qemu);
  const servers = [
    { name: 'snaptape serve', url: `nbd://127.0.0.1:${snapPort}/bench` },
    { name: 'qemu-nbd', url: `nbd://127.0.0.1:${qemuPort}/bench` },
  ];
  for (const s of servers) waitForNbd(s.url);

  const results = new Map(servers.map((s) => [s.name, { read: [], write: [], random: [] }]));
  for (let run = 0; run < RUNS; run++) {
    for (const s of servers) {
      const r = results.get(s.name);
      r.read.push(sizeBytes / 1e6 / timed(['nbdcopy', `--connections=${CONNECTIONS}`, s.url, 'null:']));
      r.write.push(sizeBytes / 1e6 / timed(['nbdcopy', `--connections=${CONNECTIONS}`, flat, s.url]));
      r.random.push(sizeBytes / 1e6 / timed(['nbdcopy', `--connections=${CONNECTIONS}`, random, s.url]));
    }
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `NBD throughput, ${(sizeBytes / 1e6).toFixed(1)} MB export (3390, ${CYLINDERS} cylinders, 60 % filled), nbdcopy --connections=${CONNECTIONS}, ${RUNS} runs each, alternating; ${cpus().length} × ${cpu}, Node ${process.version}`,
  );
  console.log('');
  console.log('| server | read MB/s (median) | read min-max | write volume data MB/s (median) | min-max | write random data MB/s (median) | min-max |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, r] of results) {
    const range = (v) => `${Math.min(...v).toFixed(0)}-${Math.max(...v).toFixed(0)}`;
    console.log(
      `| ${name} | ${median(r.read).toFixed(0)} | ${range(r.read)} | ${median(r.write).toFixed(0)} | ${range(r.write)} | ${median(r.random).toFixed(0)} | ${range(r.random)} |`,
    );
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
