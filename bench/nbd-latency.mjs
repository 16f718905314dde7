#!/usr/bin/env node
/**
 * Host write latency seen by an external NBD client (issue 22): 4 KiB writes at 1,000/s from a
 * process of its own (bench/nbd-write-client.mjs) to
 *   - qemu-nbd serving a copy of the image, with no session (the reference);
 *   - `snaptape serve` of the image, with no session;
 *   - `snaptape serve` of the image during a backup of it (`snaptape backup NAME --server …`), the
 *     client writing from before the backup starts until it has ended, its finish included.
 * The cases run in interleaved rounds (the order turns each round); each figure is the median over
 * the rounds of that round's percentile. Both images stay in the page cache (cached only), and the
 * server's CPU time (user + system, from /proc) is reported beside the writes. The backup's finish
 * (from the last track on the tape to the backup's end) is timed apart, for issue 22's "no single
 * write waits over 50 ms at the finish": each round's longest write whose wait overlaps it, and
 * how many waited over 50 ms (`finishWrites` says how the two processes share one clock).
 *
 * With --baseline-dir DIR (a built checkout of another revision, named by --baseline-label), each
 * round also runs both snaptape cases with DIR's bin/snaptape, in the same turn order, so that the
 * two builds are compared interleaved on the same machine state.
 *
 * Usage: npm run build && node bench/nbd-latency.mjs --image DENSE.ckd [--rounds 5] [--seconds 5]
 *   [--baseline-dir DIR --baseline-label TEXT]
 * DENSE.ckd is a dense 3390 (`snaptape fill --percent 100`; `npm run bench -- --only nbd-latency`
 * passes the dense source of section 1). The servers write into copies of it in
 * bench/work/nbd-latency, removed at the end. Prints a Markdown section on stdout. Needs qemu-utils.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { median } from './bench-common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'snaptape');
const CLIENT = join(ROOT, 'bench', 'nbd-write-client.mjs');
const WORK = join(ROOT, 'bench', 'work', 'nbd-latency');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const SOURCE = args.includes('--image') ? args[args.indexOf('--image') + 1] : undefined;
if (SOURCE === undefined || !existsSync(SOURCE)) throw new Error('usage: node bench/nbd-latency.mjs --image DENSE.ckd [--rounds N] [--seconds S]');
const ROUNDS = option('--rounds', 5);
const BASELINE_DIR = args.includes('--baseline-dir') ? args[args.indexOf('--baseline-dir') + 1] : undefined;
const BASELINE_LABEL = args.includes('--baseline-label') ? args[args.indexOf('--baseline-label') + 1] : 'baseline';
if (BASELINE_DIR !== undefined && !existsSync(join(BASELINE_DIR, 'dist', 'cli'))) throw new Error(`${BASELINE_DIR} is not a built checkout (no dist/cli)`);
const SECONDS = option('--seconds', 5);
const RATE = 1000;
/** Hercules' CKD image header: the first track slot starts after it. */
const IMAGE_HEADER_BYTES = 512;
/** A 3390 track's slot in a Hercules CKD image. */
const SLOT_BYTES = 56_832;
const TRACKS = (statSync(SOURCE).size - IMAGE_HEADER_BYTES) / SLOT_BYTES;
const CYLINDERS = TRACKS / 15;
if (!Number.isInteger(CYLINDERS)) throw new Error(`${SOURCE} is not a 3390 image`);
/** Home address (5) + R0's count (8) and data (8) + R1's count (8): R1's data starts here. */
const RECORD_OFFSET = 29;
/** `fill` writes two blocks of this size a track, without keys. */
const RECORD_BYTES = 27_998;
/** Past the VTOC: writes land in data sets only. */
const FIRST_TRACK = 150;
const START_TIMEOUT_MS = 30_000;
/** Issue 22: no single write waits over this long at the backup's finish. */
const FINISH_LIMIT_MS = 50;
const log = (text) => process.stderr.write(`${text}\n`);
/** Every server and client started, so that a failed run leaves none behind. */
const children = new Set();
const track = (child) => {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
};
process.on('exit', () => children.forEach((child) => child.kill('SIGKILL')));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function run(argv) {
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Checks that the tracks hold what the client assumes: R1 without a key, RECORD_BYTES of data. */
function checkLayout(image) {
  const slot = (statSync(image).size - IMAGE_HEADER_BYTES) / TRACKS;
  if (!Number.isInteger(slot)) throw new Error(`${image}: ${TRACKS} tracks do not divide the image`);
  const fd = openSync(image, 'r');
  const count = Buffer.alloc(8);
  readSync(fd, count, 0, 8, IMAGE_HEADER_BYTES + FIRST_TRACK * slot + RECORD_OFFSET - 8);
  closeSync(fd);
  if (count[5] !== 0 || count.readUInt16BE(6) !== RECORD_BYTES) throw new Error(`${image}: track ${FIRST_TRACK} is not a filled track`);
  return slot;
}

function startClient(socket, slot, base, timeline) {
  const child = track(
    spawn(
      process.execPath,
      [
        CLIENT,
        '--socket',
        socket,
        '--slot',
        String(slot),
        '--tracks',
        String(TRACKS),
        '--rate',
        String(RATE),
        '--first-track',
        String(FIRST_TRACK),
        '--record-offset',
        String(RECORD_OFFSET),
        '--record-bytes',
        String(RECORD_BYTES),
        '--base',
        String(base),
        ...(timeline === undefined ? [] : ['--timeline', timeline]),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t) => (stderr += t));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', () => stdout.startsWith('ready\n') && resolve());
    void exited.then((code) => reject(new Error(`the write client exited (${code}) before it was ready: ${stderr}`)));
  });
  return {
    ready,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`the write client failed (${code}): ${stderr}`);
      return JSON.parse(stdout.slice('ready\n'.length).trim());
    },
  };
}

async function waitForSocket(path, child) {
  const until = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(path)) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before listening`);
    if (Date.now() > until) throw new Error(`no socket at ${path} after ${START_TIMEOUT_MS} ms`);
    await sleep(20);
  }
}

async function stopServer(child) {
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  await exited;
  clearTimeout(killer);
}

/** qemu-nbd on the copy, no session: the reference. */
async function qemuCase(image, slot) {
  const socket = join(WORK, 'qemu.sock');
  rmSync(socket, { force: true });
  const server = track(spawn('qemu-nbd', ['-f', 'raw', '-k', socket, '--persistent', '--shared=4', '--cache=writeback', image], { stdio: 'ignore' }));
  await waitForSocket(socket, server);
  const cpu0 = cpuSeconds(server.pid);
  const client = startClient(socket, slot, IMAGE_HEADER_BYTES);
  await client.ready;
  await sleep(SECONDS * 1000);
  const result = await client.stop();
  const cpu = cpuSeconds(server.pid) - cpu0;
  await stopServer(server);
  return { ...result, serverCpu: cpu, seconds: SECONDS };
}

/**
 * The writes that waited in the backup's finish: from the instant the last track is on the tape to
 * the backup's end. The server and the client are processes of their own, put on one clock, the
 * wall clock's (ms since the epoch): the client's timeline (performance.timeOrigin + now(), µs) and
 * the `time` of serve's log lines (Date.now(), ms). The finish starts at the session's `completing`
 * state line: the session moves there in the synchronous stretch that follows the copy's last
 * track (finishTape: the copy's end, `stopProtecting`, the move), and the log line is written in
 * that same stretch, so no write is answered between the two. It ends when the backup command has
 * exited, which is later than the session's `completed` line: what the server does once the
 * session has finished (the track map beside the tape) is inside it, and the command's exit adds a
 * few ms of writes that waited for nothing. A write counts when its wait overlaps the window: sent
 * before the finish and answered inside it, it waited in the finish too.
 */
function finishWrites(timelinePath, logPath, backupExitedMs) {
  const states = readFileSync(logPath, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"session.state"'))
    .map((line) => JSON.parse(line));
  const at = (state) => states.findLast((line) => line.state === state)?.time;
  const completing = at('completing');
  const completed = at('completed');
  if (completing === undefined || completed === undefined) throw new Error(`${logPath}: no completing and completed session states`);
  const from = completing;
  const to = Math.max(completed, backupExitedMs);
  let longest = 0;
  let over = 0;
  let writes = 0;
  for (const line of readFileSync(timelinePath, 'utf8').trim().split('\n')) {
    const [, began, ended] = line.split(' ').map(Number);
    if (ended <= from || began >= to) continue;
    writes += 1;
    const wait = ended - began;
    longest = Math.max(longest, wait);
    if (wait > FINISH_LIMIT_MS) over += 1;
  }
  return { finishMs: completed - completing, windowMs: to - from, writes, longestMs: longest, over };
}

/** snaptape serve: a no-session run, then a run during a backup, on one server. */
async function snaptapeCases(image, slot, bin = BIN) {
  const socket = join(WORK, 'snaptape.nbd.sock');
  const control = join(WORK, 'snaptape.ctl.sock');
  const serveLog = join(WORK, 'serve.log');
  const timeline = join(WORK, 'timeline.txt');
  for (const path of [socket, control, serveLog, timeline]) rmSync(path, { force: true });
  const server = track(
    spawn(process.execPath, [bin, 'serve', image, '--nbd', `unix:${socket}`, '--control', control, '--json', '--log-file', serveLog], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  await waitForSocket(socket, server);
  await waitForSocket(control, server);
  let cpu0 = cpuSeconds(server.pid);
  let client = startClient(socket, slot, 0);
  await client.ready;
  await sleep(SECONDS * 1000);
  const idle = { ...(await client.stop()), serverCpu: cpuSeconds(server.pid) - cpu0, seconds: SECONDS };

  const tape = join(WORK, 'backup.aws');
  rmSync(tape, { force: true });
  cpu0 = cpuSeconds(server.pid);
  client = startClient(socket, slot, 0, timeline);
  await client.ready;
  await sleep(500);
  const began = performance.now();
  const backup = track(
    spawn(process.execPath, [bin, 'backup', basename(image, '.ckd'), '--server', control, '--to', tape, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let backupErr = '';
  backup.stderr.setEncoding('utf8').on('data', (t) => (backupErr += t));
  const code = await new Promise((resolve) => backup.on('exit', resolve));
  const backupExitedMs = Date.now();
  const backupSeconds = (performance.now() - began) / 1000;
  if (code !== 0) throw new Error(`the backup failed (${code}): ${backupErr}`);
  const during = { ...(await client.stop()), serverCpu: cpuSeconds(server.pid) - cpu0, seconds: backupSeconds + 0.5 };
  const finish = finishWrites(timeline, serveLog, backupExitedMs);
  rmSync(tape, { force: true });
  await stopServer(server);
  return { idle, during, backupSeconds, finish };
}

// ---- the images ---------------------------------------------------------------------------------
// Copies, since both servers write: the source stays as section 1 and 4 read it.
rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const image = join(WORK, 'latency.ckd');
const qemuImage = join(WORK, 'latency-qemu.ckd');
for (const copy of [image, qemuImage]) run(['cp', '--sparse=always', SOURCE, copy]);
process.on('exit', () => rmSync(WORK, { recursive: true, force: true }));
const slot = checkLayout(image);
if (slot !== SLOT_BYTES) throw new Error(`${SOURCE}: a slot of ${slot} bytes is not a 3390's`);

// ---- the rounds ---------------------------------------------------------------------------------
const loadBefore = loadavg();
log(`nbd latency: ${ROUNDS} rounds, 3390 × ${CYLINDERS} cylinders, ${RATE} writes/s; load average ${loadBefore}`);
const rows = { qemu: [], idle: [], during: [], baseIdle: [], baseDuring: [] };
const backupSeconds = [];
const baseBackupSeconds = [];
const finishes = [];
const baseFinishes = [];
const loads = [];
const kinds = BASELINE_DIR === undefined ? ['qemu', 'snaptape'] : ['qemu', 'snaptape', 'baseline'];
for (let round = 0; round < ROUNDS; round++) {
  // The order turns each round: each case runs first, in the middle and last in turn. (Reversed
  // each round, as it was, the middle one of three cases stayed in the middle of every round.)
  const turn = round % kinds.length;
  const order = [...kinds.slice(turn), ...kinds.slice(0, turn)];
  for (const which of order) {
    if (which === 'qemu') rows.qemu.push(await qemuCase(qemuImage, slot));
    else if (which === 'snaptape') {
      const r = await snaptapeCases(image, slot);
      rows.idle.push(r.idle);
      rows.during.push(r.during);
      backupSeconds.push(r.backupSeconds);
      finishes.push(r.finish);
    } else {
      const r = await snaptapeCases(image, slot, join(BASELINE_DIR, 'bin', 'snaptape'));
      rows.baseIdle.push(r.idle);
      rows.baseDuring.push(r.during);
      baseBackupSeconds.push(r.backupSeconds);
      baseFinishes.push(r.finish);
    }
  }
  loads.push(loadavg());
  const last = (k) => rows[k].at(-1).corrected.p99;
  log(
    `round ${round + 1}/${ROUNDS}: corrected p99 µs qemu ${last('qemu')}, snaptape ${last('idle')}, during backup ${last('during')} (backup ${backupSeconds.at(-1).toFixed(2)} s, longest write at its finish ${finishes.at(-1).longestMs.toFixed(1)} ms)${BASELINE_DIR === undefined ? '' : `, ${BASELINE_LABEL} ${last('baseIdle')} / during ${last('baseDuring')}`}; load ${loads.at(-1)}`,
  );
}

// ---- the section --------------------------------------------------------------------------------
const med = (list, pick) => median(list.map(pick));
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const lines = [
  `4 KiB NBD writes at ${RATE}/s from an external client process, over a unix socket; a dense 3390 of ${CYLINDERS.toLocaleString('en-US')} cylinders (\`fill --percent 100\`), cached; ${ROUNDS} interleaved rounds, medians; ${cpus().length} × ${cpus()[0].model.trim()}, Node ${process.version}; load average ${loadBefore} before, ${loadavg()} after (after each round: ${loads.join(' / ')}).`,
  '',
  '| case | writes | raw p50 µs | raw p99 µs | raw p99.9 µs | raw max µs | corrected p50 µs | corrected p99 µs | corrected p99.9 µs | corrected max µs | server CPU-s per s |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
const names = {
  qemu: 'qemu-nbd, no session',
  idle: 'snaptape serve, no session',
  during: 'snaptape serve, during a backup',
  baseIdle: `snaptape serve (${BASELINE_LABEL}), no session`,
  baseDuring: `snaptape serve (${BASELINE_LABEL}), during a backup`,
};
for (const key of BASELINE_DIR === undefined ? ['qemu', 'idle', 'during'] : ['qemu', 'idle', 'during', 'baseIdle', 'baseDuring']) {
  const r = rows[key];
  lines.push(
    `| ${names[key]} | ${fmt(med(r, (x) => x.writes))} | ${fmt(med(r, (x) => x.raw.p50))} | ${fmt(med(r, (x) => x.raw.p99))} | ${fmt(med(r, (x) => x.raw.p999))} | ${fmt(med(r, (x) => x.raw.max))} | ${fmt(med(r, (x) => x.corrected.p50))} | ${fmt(med(r, (x) => x.corrected.p99))} | ${fmt(med(r, (x) => x.corrected.p999))} | ${fmt(med(r, (x) => x.corrected.max))} | ${med(r, (x) => x.serverCpu / x.seconds).toFixed(2)} |`,
  );
}
const p99 = (key) => med(rows[key], (x) => x.corrected.p99);
/** Issue 22's "no single write waits over 50 ms at the backup's finish", round by round. */
const finishSentence = (who, list) =>
  `${who}, at the backup's finish (from the last track on the tape to the backup command's exit; raw wait of each write whose wait overlaps it): no write over ${FINISH_LIMIT_MS} ms in ${list.filter((f) => f.over === 0).length} of ${list.length} rounds (${list.every((f) => f.over === 0) ? 'holds in every round' : 'does not hold in every round'}). Per round (finish to the session's end ms / window ms / writes in it / longest raw write ms / writes over ${FINISH_LIMIT_MS} ms): ${list.map((f) => `${Math.round(f.finishMs)} / ${Math.round(f.windowMs)} / ${f.writes} / ${f.longestMs.toFixed(1)} / ${f.over}`).join('; ')}.`;
lines.push(
  '',
  `Backup under the load: ${median(backupSeconds).toFixed(2)} s (median). Corrected p99 during a backup against snaptape with no session: ${(p99('during') / p99('idle')).toFixed(2)}× (goal ≤ 2×); against qemu-nbd with no session: ${(p99('during') / p99('qemu')).toFixed(2)}× (goal ≤ 1.5×). Worst single write during the backup, its finish included (median over rounds of each round's max): ${fmt(med(rows.during, (x) => x.corrected.max))} µs.`,
  '',
  finishSentence('This build', finishes),
  '',
  `Per round (corrected p99 µs, qemu-nbd / snaptape / during a backup): ${rows.qemu.map((_, i) => `${rows.qemu[i].corrected.p99} / ${rows.idle[i].corrected.p99} / ${rows.during[i].corrected.p99}`).join('; ')}.`,
);
if (BASELINE_DIR !== undefined) {
  lines.push(
    '',
    `${BASELINE_LABEL}, in the same rounds: backup ${median(baseBackupSeconds).toFixed(2)} s (median); corrected p99 during a backup ${fmt(p99('baseDuring'))} µs (${(p99('baseDuring') / p99('baseIdle')).toFixed(2)}× its no-session p99, ${(p99('baseDuring') / p99('qemu')).toFixed(2)}× qemu-nbd's); worst single write ${fmt(med(rows.baseDuring, (x) => x.corrected.max))} µs. ${finishSentence(BASELINE_LABEL, baseFinishes)} Per round (corrected p99 µs, no session / during a backup): ${rows.baseIdle.map((_, i) => `${rows.baseIdle[i].corrected.p99} / ${rows.baseDuring[i].corrected.p99}`).join('; ')}.`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
