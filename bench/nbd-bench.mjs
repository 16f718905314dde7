#!/usr/bin/env node
// NBD throughput of `snaptape serve` against `qemu-nbd` serving the same image, side by side.
//
// The image is a dense CKD volume (run-bench.mjs makes it: a 3390-3 filled to 100 %, 2.85 GB).
// snaptape serves it; qemu-nbd serves a byte-identical copy of it, from the first slot on (`-o`,
// past the 512-byte device header), so both exports are the same flat view (a copy, because a
// write by another program to snaptape's own image would cost snaptape a rescan of its size table
// when it next opens it). The flat view is also written to a raw file once, the source of the
// writes (the same bytes back, so the CKD tracks stay what they were).
//
// Each round starts each server in turn (the order rotates), and with it measures:
//   read:  nbdcopy --connections=N nbd://… null:
//   write: nbdcopy --connections=N flat.raw nbd://…
// cold (after `sync` and dropping the page cache: the server reads its image from the disk, and
// nbdcopy its source file) and cached (right after, everything in the page cache). For each run:
// the wall time, the server's CPU time (utime + stime from /proc/PID/stat, the server alone, not
// nbdcopy), and the 1-minute load average when it ended. Prints a Markdown table of medians.
// Needs `npm run build`, qemu-utils, libnbd-bin, and root for the cold runs (without it, only
// cached runs are made). The raw file and the copy are deleted at the end; the image is kept.
//
// With --baseline-dir DIR (a built checkout of another revision, named by --baseline-label), each
// round also runs DIR's `snaptape serve` in the same turn order, so that the two builds are
// compared interleaved on the same machine state; the table then has its columns too.
//
// Usage: node bench/nbd-bench.mjs --image PATH [--runs 5] [--connections 4]
//   [--baseline-dir DIR --baseline-label TEXT]
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './bench-common.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const IMAGE = option('--image', undefined);
if (IMAGE === undefined) throw new Error('--image PATH: the dense CKD image to serve');
const RUNS = Number(option('--runs', 5));
const BASELINE_DIR = option('--baseline-dir', undefined);
const BASELINE_LABEL = option('--baseline-label', 'baseline');
if (BASELINE_DIR !== undefined && !existsSync(join(BASELINE_DIR, 'dist', 'cli'))) throw new Error(`${BASELINE_DIR} is not a built checkout (no dist/cli)`);
const CONNECTIONS = Number(option('--connections', 4));
/** A server that is not listening after this long is broken. */
const START_TIMEOUT_MS = 60_000;
/** Bytes before the first slot in a Hercules CKD image (the device header). */
const CKD_HEADER_BYTES = 512;
const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const CAN_DROP_CACHES = process.getuid?.() === 0;

const BIN = fileURLToPath(new URL('../bin/snaptape', import.meta.url));
const work = dirname(IMAGE);
const flat = join(work, 'nbd-bench-flat.raw');
const qemuImage = join(work, 'nbd-bench-qemu.ckd');
const control = join(work, 'nbd-bench-control.sock');
const log = (text) => process.stderr.write(`${text}\n`);

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

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // After "pid (comm) ", field 3 is the state; utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function dropCaches() {
  spawnSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

/** One nbdcopy, timed, with the server's CPU time over it. */
function measure(pid, argv) {
  const cpu0 = cpuSeconds(pid);
  const start = process.hrtime.bigint();
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${result.stderr}`);
  return { wall, cpu: cpuSeconds(pid) - cpu0, load: loadavg()[0] };
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/** Starts one server; resolves with its process and URL once the export answers. */
async function start(name) {
  const port = await freePort();
  const exportName = 'bench';
  const bin = name === BASELINE_NAME ? join(BASELINE_DIR, 'bin', 'snaptape') : BIN;
  const child =
    name !== 'qemu-nbd'
      ? spawn(process.execPath, [bin, 'serve', IMAGE, '--nbd', `127.0.0.1:${port}`, '--insecure-tcp', '--control', control], {
          stdio: ['ignore', 'ignore', 'inherit'],
        })
      : spawn(
          'qemu-nbd',
          [
            '-f',
            'raw',
            '-o',
            String(CKD_HEADER_BYTES),
            '-x',
            exportName,
            '-b',
            '127.0.0.1',
            '-p',
            String(port),
            '-t',
            '-e',
            '16',
            '--cache=writeback',
            qemuImage,
          ],
          {
            stdio: 'inherit',
          },
        );
  // snaptape names the export after the image file.
  const served =
    name !== 'qemu-nbd'
      ? IMAGE.split('/')
          .pop()
          .replace(/\.[^.]*$/, '')
      : exportName;
  const url = `nbd://127.0.0.1:${port}/${served}`;
  waitForNbd(url);
  return { child, url };
}

const BASELINE_NAME = `snaptape serve (${BASELINE_LABEL})`;
const SERVERS = ['snaptape serve', ...(BASELINE_DIR !== undefined ? [BASELINE_NAME] : []), 'qemu-nbd'];
const CASES = [...(CAN_DROP_CACHES ? ['cold'] : []), 'cached'].flatMap((cache) => ['read', 'write'].map((op) => ({ op, cache, key: `${op} ${cache}` })));

try {
  const imageBytes = statSync(IMAGE).size;
  const sizeBytes = imageBytes - CKD_HEADER_BYTES;
  log(`nbd-bench: the flat view (${(sizeBytes / 1e9).toFixed(2)} GB) and qemu-nbd's copy of the image…`);
  spawnSync('sh', ['-c', `tail -c +${CKD_HEADER_BYTES + 1} "${IMAGE}" > "${flat}"`]);
  if (statSync(flat).size !== sizeBytes) throw new Error(`${flat} is not the flat view of ${IMAGE}`);
  copyFileSync(IMAGE, qemuImage);

  const results = new Map(SERVERS.map((s) => [s, new Map(CASES.map((c) => [c.key, []]))]));
  for (let round = 0; round < RUNS; round++) {
    // The order turns each round, so that no server always runs first (or right after another).
    const order = SERVERS.map((_, i) => SERVERS[(i + round) % SERVERS.length]);
    for (const name of order) {
      const { child, url } = await start(name);
      try {
        for (const c of CASES) {
          if (c.cache === 'cold') dropCaches();
          else spawnSync('sync');
          const argv = c.op === 'read' ? ['nbdcopy', `--connections=${CONNECTIONS}`, url, 'null:'] : ['nbdcopy', `--connections=${CONNECTIONS}`, flat, url];
          const m = measure(child.pid, argv);
          results.get(name).get(c.key).push(m);
          log(`round ${round + 1}/${RUNS} ${name} ${c.key}: ${m.wall.toFixed(2)} s, server CPU ${m.cpu.toFixed(2)} s, load ${m.load.toFixed(2)}`);
        }
      } finally {
        await stop(child);
      }
    }
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const med = (samples, key) => median(samples.map((s) => s[key]));
  console.log(
    `${(sizeBytes / 1e9).toFixed(2)} GB export (the flat view of a dense 3390-3), \`nbdcopy --connections=${CONNECTIONS}\`, ${RUNS} rounds, the servers interleaved (the order turning each round); ${cpus().length} × ${cpu}, Node ${process.version}. Medians; "server CPU" is the server's user + system time over the copy (not nbdcopy's); "load" is the 1-minute load average as each run ended (median, and range over the rounds). Cold: after \`sync\` and dropping the page cache; cached: right after.`,
  );
  console.log('');
  const withBaseline = BASELINE_DIR !== undefined;
  const baselineHead = withBaseline ? ` ${BASELINE_LABEL} s | ${BASELINE_LABEL} × qemu-nbd | ${BASELINE_LABEL} CPU s |` : '';
  console.log(
    `| case | snaptape s | qemu-nbd s | MB/s snaptape | MB/s qemu-nbd | speed × qemu-nbd | snaptape CPU s | qemu-nbd CPU s | CPU × qemu-nbd |${baselineHead} load (median, range) |`,
  );
  console.log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${withBaseline ? ' ---: | ---: | ---: |' : ''} --- |`);
  for (const c of CASES) {
    const snap = results.get('snaptape serve').get(c.key);
    const qemu = results.get('qemu-nbd').get(c.key);
    const base = withBaseline ? results.get(BASELINE_NAME).get(c.key) : [];
    const [sw, qw, sc, qc] = [med(snap, 'wall'), med(qemu, 'wall'), med(snap, 'cpu'), med(qemu, 'cpu')];
    const baselineCells = withBaseline ? ` ${med(base, 'wall').toFixed(2)} | ${(qw / med(base, 'wall')).toFixed(2)} | ${med(base, 'cpu').toFixed(2)} |` : '';
    const loads = [...snap, ...qemu, ...base].map((s) => s.load);
    console.log(
      `| ${c.key} | ${sw.toFixed(2)} | ${qw.toFixed(2)} | ${(sizeBytes / 1e6 / sw).toFixed(0)} | ${(sizeBytes / 1e6 / qw).toFixed(0)} | ${(qw / sw).toFixed(2)} | ${sc.toFixed(2)} | ${qc.toFixed(2)} | ${(sc / qc).toFixed(2)} |${baselineCells} ${median(loads).toFixed(1)} (${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}) |`,
    );
  }
  console.log('');
  console.log('Per round (wall s, in round order):');
  for (const c of CASES)
    console.log(
      `- ${c.key}: ${SERVERS.map(
        (name) =>
          `${name} ${results
            .get(name)
            .get(c.key)
            .map((m) => m.wall.toFixed(2))
            .join(', ')}`,
      ).join('; ')}`,
    );
} finally {
  rmSync(flat, { force: true });
  rmSync(qemuImage, { force: true });
  rmSync(control, { force: true });
}
