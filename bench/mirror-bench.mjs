#!/usr/bin/env node
/**
 * Mirror resync bench (issue 7): the time to resync a split mirror grows with the tracks changed
 * since the split, not with the volume. For 1%, 10% and 100% of the tracks of a 3390 volume, split
 * a mirror, write that share of tracks, rejoin, and time the resync. Local secondary (an image in
 * this process) and, with --remote, a secondary behind a `snaptape serve` child over NBD on loopback.
 * Runs on the compiled dist/ (npm run build first). Usage: node bench/mirror-bench.mjs [--cylinders N] [--remote]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVolume } from '../dist/api/volume-api.js';
import { MirrorSession } from '../dist/techniques/mirror/mirror-session.js';

const args = process.argv.slice(2);
const at = args.indexOf('--cylinders');
const cylinders = at >= 0 ? Number(args[at + 1]) : 200;
const withRemote = args.includes('--remote');
const SHARES = [0.01, 0.1, 1];
const BIN = fileURLToPath(new URL('../bin/snaptape', import.meta.url));

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

async function one(kind, share) {
  const dir = mkdtempSync(join(tmpdir(), 'snaptape-mirror-bench-'));
  let server;
  try {
    const primary = createVolume(join(dir, 'prim.ckd'), { type: '3390', cylinders, volser: 'PRIM01' });
    createVolume(join(dir, 'sec.ckd'), { type: '3390', cylinders, volser: 'SEC001' }).close();
    let target = join(dir, 'sec.ckd');
    if (kind === 'remote') {
      server = await serve(target, dir);
      target = `127.0.0.1:${server.info.nbd.port}/sec`;
    }
    const tracks = primary.ckd.trackCount;
    const mirror = MirrorSession.create(primary, [target]);
    await mirror.whenInSync({ timeoutMs: 600_000 });
    mirror.split();
    const changed = Math.max(1, Math.round(tracks * share));
    const data = Buffer.alloc(4096, 0x5a);
    // Every (tracks/changed)-th track, so the changed tracks spread over the volume.
    for (let i = 0; i < changed; i++)
      primary.writeTrackRecords(Math.floor((i * tracks) / changed), [
        { key: Buffer.alloc(0), data },
        { key: Buffer.alloc(0), data },
      ]);
    // Timed to the ONGOING event (not a status poll, whose period would swamp the 1% case).
    const ongoing = new Promise((resolve) =>
      mirror.on('state', (_name, state) => {
        if (state === 'ONGOING') resolve();
      }),
    );
    const started = process.hrtime.bigint();
    mirror.rejoin();
    await ongoing;
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const copied = mirror.status().mirrors[0].resync.copied;
    await mirror.remove();
    primary.close();
    return { kind, tracks, share, changed, copied, ms };
  } finally {
    server?.child.stderr?.resume();
    server?.child.kill('SIGTERM');
    if (server) await new Promise((r) => server.child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs per case; the median is reported. */
const RUNS = 3;
const rows = [];
for (const kind of withRemote ? ['local', 'remote'] : ['local']) {
  for (const share of SHARES) {
    const runs = [];
    for (let r = 0; r < RUNS; r++) runs.push(await one(kind, share));
    runs.sort((a, b) => a.ms - b.ms);
    rows.push(runs[Math.floor(RUNS / 2)]);
  }
}
console.log(`mirror resync, 3390 x ${cylinders} cylinders (${rows[0]?.tracks} tracks), node ${process.version}`);
console.log('| secondary | changed | tracks copied | resync ms | ms per track |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.kind} | ${(r.share * 100).toFixed(0)}% | ${r.copied} | ${r.ms.toFixed(0)} | ${(r.ms / r.copied).toFixed(2)} |`);
