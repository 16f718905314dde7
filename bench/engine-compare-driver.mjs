#!/usr/bin/env node
/**
 * One timed run of a figure that has no CLI, on the build given by --checkout (its dist/), for
 * bench/engine-compare.mjs. Both figures are driven as bench/clone-bench.mjs and
 * bench/mirror-bench.mjs drive them, through the same dist/ modules, which exist under the same
 * paths in the baseline and in the new build. Prints one JSON line.
 *
 * Usage: node bench/engine-compare-driver.mjs --checkout DIR --work DIR --cylinders N (clone|mirror)
 *   clone:  a 3390 of N cylinders, 40% full (made once, kept in --work), takes 200 host writes/s on
 *           a hot set of 10% of its tracks; CREATE with PRECOPY on a pool of 2 workers, timed until
 *           the precopy has passed the volume and only about the hot set is left (clone-bench's way).
 *   mirror: a primary and a local secondary of N cylinders are brought in sync, split, every track
 *           of the primary is written, and the rejoin is timed to the ONGOING event (the resync
 *           step of bench-common.mjs that mirror-bench.mjs runs too, its 100% row).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { timeMirrorResync } from './bench-common.mjs';

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  if (at < 0) throw new Error(`${name} is required`);
  return args[at + 1];
};
const CHECKOUT = option('--checkout');
const WORK = option('--work');
const CYLINDERS = Number(option('--cylinders'));
const figure = args[args.length - 1];
const dist = (p) => import(join(CHECKOUT, 'dist', p));
const { createVolume, openVolume } = await dist('api/volume-api.js');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
mkdirSync(WORK, { recursive: true });

/** clone-bench's host writer: `rate` writes per second on random hot tracks, in 10 ms ticks. */
function hostLoad(volume, hot, rate, Prng) {
  const prng = new Prng(99);
  let carry = 0;
  const timer = setInterval(() => {
    carry += rate / 100;
    for (; carry >= 1; carry--) {
      const data = Buffer.alloc(200 + prng.below(3000));
      prng.fill(data);
      volume.writeTrackRecords(hot[prng.below(hot.length)], [{ key: Buffer.alloc(0), data }]);
    }
  }, 10);
  return { stop: () => clearInterval(timer) };
}

async function clonePrecopy() {
  const { fillVolume } = await dist('vtoc/volume-fill.js');
  const { CloneSession } = await dist('techniques/clone/clone-session.js');
  const { CopyPool } = await dist('engine/copy-pool.js');
  const { Prng } = await dist('base/prng.js');
  const sourcePath = join(WORK, `clone-source-${CYLINDERS}cyl.ckd`);
  // The source is shared by both builds; the host writes change it a little each run, alike for both.
  if (!existsSync(sourcePath)) {
    const v = createVolume(sourcePath, { type: '3390', cylinders: CYLINDERS, volser: 'CLNSRC', force: true });
    try {
      fillVolume(v, { seed: 8, percent: 40 });
    } catch (error) {
      v.close();
      rmSync(sourcePath, { force: true });
      throw error;
    }
    v.close();
  }
  const targetPath = join(WORK, 'clone-target.ckd');
  rmSync(targetPath, { force: true });
  rmSync(`${targetPath}.sizes`, { force: true });
  const pool = new CopyPool(2);
  const source = openVolume(sourcePath);
  const target = createVolume(targetPath, { type: '3390', cylinders: CYLINDERS, volser: 'CLNDST', force: true });
  const tracks = source.ckd.trackCount;
  const hot = Array.from({ length: Math.floor(tracks / 10) }, (_, i) => i * 10 + 7).filter((t) => t < tracks);
  const load = hostLoad(source, hot, 200, Prng);
  try {
    const started = process.hrtime.bigint();
    const session = CloneSession.create(source, target, { pool, precopy: true });
    while (session.status().passes < 1 || session.status().tracksLeft > hot.length) await sleep(5);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const status = session.status();
    session.activate();
    await session.whenCopied();
    session.terminate();
    return { seconds, tracks, recopies: status.recopies };
  } finally {
    load.stop();
    source.close();
    target.close();
    await pool.close();
    // The target and its side files (sizes, the clone's record and bitmap).
    for (const name of readdirSync(WORK)) if (name.startsWith('clone-target.ckd')) rmSync(join(WORK, name), { force: true });
  }
}

async function mirrorResync() {
  const { MirrorSession } = await dist('techniques/mirror/mirror-session.js');
  const dir = join(WORK, 'mirror');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  try {
    const primary = createVolume(join(dir, 'prim.ckd'), { type: '3390', cylinders: CYLINDERS, volser: 'PRIM01' });
    createVolume(join(dir, 'sec.ckd'), { type: '3390', cylinders: CYLINDERS, volser: 'SEC001' }).close();
    try {
      const run = await timeMirrorResync(MirrorSession, primary, join(dir, 'sec.ckd'), 1);
      return { seconds: run.ms / 1000, tracks: run.units, copied: run.copied };
    } finally {
      primary.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (figure === 'clone') console.log(JSON.stringify(await clonePrecopy()));
else if (figure === 'mirror') console.log(JSON.stringify(await mirrorResync()));
else throw new Error(`unknown figure ${figure}: clone or mirror`);
