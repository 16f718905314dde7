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
 *
 * Usage: node bench/mirror-bench.mjs [--cylinders N] [--fba-mb N] [--rounds N] [--remote] [--only resync|cp] [--shapes ckd,fba]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVolume } from '../dist/api/volume-api.js';
import { MirrorSession } from '../dist/techniques/mirror/mirror-session.js';
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

const parts = [];
if (only !== 'cp') parts.push(await resyncTable());
if (only !== 'resync') parts.push(await cpTable());
console.log(parts.join('\n\n'));
