#!/usr/bin/env node
/**
 * Mirror benches, on the compiled dist/ (npm run build first). Local secondary (an image in this
 * process) and, with --remote, a secondary behind a `snaptape serve` child over NBD on loopback.
 *
 * 1. Resync against changed tracks (issue 7): the time to resync a split mirror grows with the
 *    tracks changed since the split, not with the volume. For 1%, 10% and 100% of the tracks of a
 *    3390, split, write that share, rejoin, and time the resync (bench-common.mjs's resync step).
 * 2. Against `cp` (issue 20): the initial copy and a 100% resync of a full volume, a 3390 of
 *    --cylinders and an FBA volume of --fba-mb MB, against `cp` of the same primary image, in
 *    --rounds interleaved rounds (the order rotates each round). "× cp" is cp's median time over
 *    the mirror's (1.00: as fast as cp; the goal is at least 0.50). Both mirror times run to the
 *    ONGOING event, so they include the mirror's own fsync of the secondary and its state file;
 *    `cp` does not sync. A second reference, cp + sync (the copy then `sync` of it), is shown
 *    beside it; the goal stays against cp.
 * 3. The floor under 2 (--only floor, not in a default run): what a durable copy of the same 3390
 *    image costs without the mirror, against cp and cp + sync, in --rounds interleaved rounds: a
 *    plain loop of readSync/writeSync a cylinder at a time into a new sparse file, and the same loop
 *    with the mirror's writeback in steps (base/stepped-writeback.ts) and a closing fsync; and how
 *    long the engine's pool of two copy workers takes to start (to the end of a first, empty task).
 *
 * Usage: node bench/mirror-bench.mjs [--cylinders N] [--fba-mb N] [--rounds N] [--remote] [--only resync|cp|floor] [--shapes ckd,fba]
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVolume } from '../dist/api/volume-api.js';
import { MirrorSession } from '../dist/techniques/mirror/mirror-session.js';
import { SteppedWriteback } from '../dist/base/stepped-writeback.js';
import { CopyPool } from '../dist/engine/copy-pool.js';
import { newCursor } from '../dist/engine/copy-plan.js';
import { createPacing } from '../dist/engine/copy-pacing.js';
import { TrackStateArray } from '../dist/engine/track-state.js';
import { MIRROR_WRITEBACK_BYTES } from '../dist/techniques/mirror/mirror-limits.js';
import { median, timeMirrorResync, untilOngoing, writeShare } from './bench-common.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const cylinders = Number(option('--cylinders', 200));
const fbaMb = Number(option('--fba-mb', 100));
const rounds = Number(option('--rounds', 3));
const only = option('--only', undefined);
const withRemote = args.includes('--remote');
const shapes = option('--shapes', 'ckd,fba').split(',');
const SHARES = [0.01, 0.1, 1];
const BIN = fileURLToPath(new URL('../bin/snaptape', import.meta.url));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const log = (text) => process.stderr.write(`${text}\n`);

function serve(image, dir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', join(dir, 'sec.sock'), '--json'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const end = out.indexOf('\n');
      if (end >= 0) resolve({ child, info: JSON.parse(out.slice(0, end)) });
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
}

async function stopServer(server) {
  if (!server) return;
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
}

/** A new volume of `shape` ('ckd' or 'fba') at `path`. */
function makeVolume(path, shape, volser) {
  return shape === 'ckd'
    ? createVolume(path, { type: '3390', cylinders, volser })
    : createVolume(path, { type: 'fba', blocks: Math.round((fbaMb * 1e6) / 512), volser });
}

/** A fresh secondary for `shape`, local or behind a serve child; returns the target and the child. */
async function secondary(dir, shape, kind) {
  const path = join(dir, `sec.${shape}`);
  makeVolume(path, shape, 'SEC001').close();
  if (kind === 'local') return { target: path };
  const server = await serve(path, dir);
  return { target: `127.0.0.1:${server.info.nbd.port}/sec`, server };
}

// ---- 1. resync against changed tracks ----------------------------------------------------------

async function resyncRun(kind, share) {
  const dir = mkdtempSync(join(tmpdir(), 'snaptape-mirror-bench-'));
  let server;
  try {
    const primary = makeVolume(join(dir, 'prim.ckd'), 'ckd', 'PRIM01');
    const sec = await secondary(dir, 'ckd', kind);
    server = sec.server;
    try {
      return { kind, share, ...(await timeMirrorResync(MirrorSession, primary, sec.target, share)) };
    } finally {
      primary.close();
    }
  } finally {
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function resyncTable() {
  const rows = [];
  for (const kind of withRemote ? ['local', 'remote'] : ['local']) {
    for (const share of SHARES) {
      const runs = [];
      for (let r = 0; r < 3; r++) runs.push(await resyncRun(kind, share));
      runs.sort((a, b) => a.ms - b.ms);
      rows.push(runs[1]);
    }
  }
  const lines = [`mirror resync, 3390 x ${cylinders} cylinders (${rows[0]?.units} tracks), node ${process.version}`];
  lines.push('| secondary | changed | tracks copied | resync ms | ms per track |', '| --- | --- | --- | --- | --- |');
  for (const r of rows) lines.push(`| ${r.kind} | ${(r.share * 100).toFixed(0)}% | ${r.copied} | ${r.ms.toFixed(0)} | ${(r.ms / r.copied).toFixed(2)} |`);
  return lines.join('\n');
}

// ---- 2. against cp -----------------------------------------------------------------------------

/** A full primary: every CKD track with two 4 KiB records, or every FBA block written. */
function fullPrimary(dir, shape) {
  const primary = makeVolume(join(dir, `prim.${shape}`), shape, 'PRIM01');
  writeShare(primary, 1);
  primary.sync();
  return primary;
}

/**
 * cp of the primary's image to a new file, timed; then `sync` of that copy, timed on its own, so
 * that cp + sync (the durable equivalent, as the mirror ends with an fsync) is a second reference.
 * The goal column stays against cp alone. The copy is removed after.
 */
function timeCp(primary, dir) {
  const copy = join(dir, 'cp-copy');
  const started = process.hrtime.bigint();
  const result = spawnSync('cp', [primary.path, copy]);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`cp failed: ${result.stderr}`);
  const synced = spawnSync('sync', [copy]);
  const syncMs = Number(process.hrtime.bigint() - started) / 1e6 - ms;
  if (synced.status !== 0) throw new Error(`sync failed: ${synced.stderr}`);
  rmSync(copy, { force: true });
  return { ms, syncMs };
}

/** The initial copy onto a fresh secondary, then a 100% resync, each timed to ONGOING. */
async function mirrorRun(primary, dir, shape, kind) {
  const sec = await secondary(dir, shape, kind);
  try {
    const started = process.hrtime.bigint();
    const mirror = MirrorSession.create(primary, [sec.target]);
    try {
      await untilOngoing(mirror);
      const initialMs = Number(process.hrtime.bigint() - started) / 1e6;
      mirror.split();
      writeShare(primary, 1);
      const ongoing = untilOngoing(mirror);
      const rejoined = process.hrtime.bigint();
      mirror.rejoin();
      await ongoing;
      const resyncMs = Number(process.hrtime.bigint() - rejoined) / 1e6;
      return { initialMs, resyncMs, copied: mirror.status().mirrors[0].resync.copied };
    } finally {
      await mirror.remove();
    }
  } finally {
    await stopServer(sec.server);
    rmSync(join(dir, `sec.${shape}`), { force: true });
  }
}

async function cpTable() {
  const kinds = withRemote ? ['local', 'remote'] : ['local'];
  const rows = [];
  const loadBefore = loadavg();
  for (const shape of shapes) {
    const dir = mkdtempSync(join(tmpdir(), 'snaptape-mirror-cp-'));
    try {
      const primary = fullPrimary(dir, shape);
      const bytes = primary.flatSizeBytes;
      const units = primary.unitCount;
      const samples = { cp: [], cpSync: [], ...Object.fromEntries(kinds.map((k) => [k, []])) };
      const contenders = ['cp', ...kinds];
      for (let r = 0; r < rounds; r++) {
        // The order rotates each round, so the machine's drift falls on every contender alike.
        for (let i = 0; i < contenders.length; i++) {
          const who = contenders[(i + r) % contenders.length];
          if (who === 'cp') {
            const cp = timeCp(primary, dir);
            samples.cp.push(cp.ms);
            samples.cpSync.push(cp.ms + cp.syncMs);
          } else samples[who].push(await mirrorRun(primary, dir, shape, who));
        }
        log(`mirror vs cp: ${shape} round ${r + 1}/${rounds} done (load ${loadavg()})`);
      }
      const cp = median(samples.cp);
      const cpSync = median(samples.cpSync);
      for (const kind of kinds) {
        const initial = median(samples[kind].map((s) => s.initialMs));
        const resync = median(samples[kind].map((s) => s.resyncMs));
        rows.push({ shape, units, bytes, kind, cp, cpSync, initial, resync, cpRuns: samples.cp, runs: samples[kind] });
      }
      primary.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const fmt = (ms) => ms.toFixed(0);
  const lines = [
    `mirror initial copy and 100% resync against cp of the same image, ${rounds} interleaved rounds, median; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, node ${process.version}; load average ${loadBefore} before, ${loadavg()} after`,
  ];
  lines.push(
    '| volume | secondary | cp ms | initial copy ms | × cp | 100% resync ms | × cp | MB/s (initial) | cp + sync ms | initial × (cp + sync) | resync × (cp + sync) | runs: cp / initial / resync ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  );
  for (const r of rows) {
    const volume = r.shape === 'ckd' ? `3390 × ${cylinders} cyl (${r.units} tracks)` : `FBA ${r.units} blocks`;
    const runs = `${r.cpRuns.map(fmt).join(', ')} / ${r.runs.map((s) => fmt(s.initialMs)).join(', ')} / ${r.runs.map((s) => fmt(s.resyncMs)).join(', ')}`;
    lines.push(
      `| ${volume}, ${(r.bytes / 1e6).toFixed(0)} MB | ${r.kind} | ${fmt(r.cp)} | ${fmt(r.initial)} | ${(r.cp / r.initial).toFixed(2)} | ${fmt(r.resync)} | ${(r.cp / r.resync).toFixed(2)} | ${(r.bytes / 1e3 / r.initial).toFixed(0)} | ${fmt(r.cpSync)} | ${(r.cpSync / r.initial).toFixed(2)} | ${(r.cpSync / r.resync).toFixed(2)} | ${runs} |`,
    );
  }
  return lines.join('\n');
}

// ---- 3. the floor under 2 ------------------------------------------------------------------------

/**
 * A plain copy of `source` into a new sparse file, a cylinder at a time; with `durable`, the
 * mirror's writeback in steps and a closing fsync (timed apart). Returns the copy's ms and the fsync's.
 */
async function plainCopy(source, target, durable) {
  const chunk = 15 * 56832;
  const input = openSync(source, 'r');
  const size = fstatSync(input).size;
  const output = openSync(target, 'w+');
  ftruncateSync(output, size);
  const buffer = Buffer.allocUnsafe(chunk);
  const writeback = durable ? new SteppedWriteback(target, MIRROR_WRITEBACK_BYTES) : undefined;
  const started = process.hrtime.bigint();
  for (let at = 0; at < size; at += chunk) {
    const n = readSync(input, buffer, 0, Math.min(chunk, size - at), at);
    writeSync(output, buffer, 0, n, at);
    writeback?.reached(at + n);
    // As the mirror's loop: a yield between batches, so that a writeback step can start.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await writeback?.close();
  const copied = process.hrtime.bigint();
  if (durable) fsyncSync(output);
  const ms = Number(copied - started) / 1e6;
  const fsyncMs = Number(process.hrtime.bigint() - copied) / 1e6;
  closeSync(output);
  closeSync(input);
  rmSync(target, { force: true });
  return { ms, fsyncMs };
}

/** From `new CopyPool(2)` to the end of a first task with nothing to copy (over an empty scratch file), then closed. */
async function poolStartMs(dir) {
  const path = join(dir, 'pool-scratch');
  writeFileSync(path, '');
  const started = process.hrtime.bigint();
  const pool = new CopyPool(2);
  const states = TrackStateArray.create(0);
  const file = { kind: 'file', path, dataOffsetBytes: 0, slotBytes: 512 };
  const plan = {
    stateBuffer: states.buffer,
    units: new Int32Array(0),
    cursorBuffer: newCursor(),
    source: {},
    target: { kind: 'slot', trim: false },
    marks: [],
  };
  await pool.copy({ ...plan, readBeforeClaim: false, pacing: createPacing(), sourceFile: file, targetFile: file });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await pool.close();
  return ms;
}

async function floorTable() {
  const dir = mkdtempSync(join(tmpdir(), 'snaptape-mirror-floor-'));
  const loadBefore = loadavg();
  const samples = { cp: [], cpSync: [], loop: [], durable: [], durableFsync: [], pool: [] };
  let bytes = 0;
  try {
    const primary = fullPrimary(dir, 'ckd');
    bytes = primary.flatSizeBytes;
    const contenders = ['cp', 'loop', 'durable', 'pool'];
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < contenders.length; i++) {
        const who = contenders[(i + r) % contenders.length];
        if (who === 'cp') {
          const cp = timeCp(primary, dir);
          samples.cp.push(cp.ms);
          samples.cpSync.push(cp.ms + cp.syncMs);
        } else if (who === 'loop') samples.loop.push((await plainCopy(primary.path, join(dir, 'loop-copy'), false)).ms);
        else if (who === 'durable') {
          const run = await plainCopy(primary.path, join(dir, 'loop-copy'), true);
          samples.durable.push(run.ms + run.fsyncMs);
          samples.durableFsync.push(run.fsyncMs);
        } else samples.pool.push(await poolStartMs(dir));
      }
      log(`floor: round ${r + 1}/${rounds} done (load ${loadavg()})`);
    }
    primary.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const fmt = (ms) => ms.toFixed(0);
  const cp = median(samples.cp);
  const row = (what, values, note = '') => `| ${what} | ${fmt(median(values))} | ${(cp / median(values)).toFixed(2)} | ${values.map(fmt).join(', ')}${note} |`;
  return [
    `a durable copy without the mirror against cp, 3390 × ${cylinders} cyl, ${(bytes / 1e6).toFixed(0)} MB, ${rounds} interleaved rounds, median; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, node ${process.version}; load average ${loadBefore} before, ${loadavg()} after`,
    '| copy | ms | × cp | runs ms |',
    '| --- | ---: | ---: | --- |',
    row('cp', samples.cp),
    row('cp + sync', samples.cpSync),
    row('plain loop (read, write a cylinder at a time)', samples.loop),
    row('plain loop, writeback in steps, closing fsync', samples.durable, ` (closing fsync ${samples.durableFsync.map(fmt).join(', ')})`),
    `| (start of a pool of 2 copy workers) | ${fmt(median(samples.pool))} | - | ${samples.pool.map(fmt).join(', ')} |`,
  ].join('\n');
}

const parts = [];
if (only === 'floor') parts.push(await floorTable());
if (only !== 'cp' && only !== 'floor') parts.push(await resyncTable());
if (only !== 'resync' && only !== 'floor') parts.push(await cpTable());
console.log(parts.join('\n\n'));
