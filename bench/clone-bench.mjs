#!/usr/bin/env node
// Clone benchmark (issue 8): the benefit of PRECOPY. A 3390-3 (with --quick a 3390 of 300
// cylinders) takes host writes on a hot set of 10% of its tracks, throughout. Two runs, side by side:
//   A. CREATE then ACTIVATE at once (no precopy): every track is left to copy at ACTIVATE;
//   B. CREATE with PRECOPY, ACTIVATE once the precopy has passed the volume: about the hot set is left.
// Reported: tracks left at ACTIVATE, re-copies, precopy time, the background copy after ACTIVATE,
// and copies made on demand (host writes that had to wait for a copy). Prints Markdown for
// bench/RESULTS.md (the lead merges it) and writes bench/work/clone-bench.json.
//
// Usage: npm run build && node bench/clone-bench.mjs [--quick] [--rate WRITES_PER_S] [--workers N]
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => import(join(ROOT, 'dist', p));
const { createVolume, openVolume } = await dist('api/volume-api.js');
const { fillVolume } = await dist('vtoc/volume-fill.js');
const { CloneSession } = await dist('techniques/clone/clone-session.js');
const { CopyPool } = await dist('engine/copy-pool.js');
const { Prng } = await dist('base/prng.js');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const QUICK = args.includes('--quick');
/** 3390-3: 3,339 cylinders. */
const CYLINDERS = QUICK ? 300 : 3339;
/** Host writes per second on the hot set, during the whole run. */
const RATE = option('--rate', 200);
const WORKERS = option('--workers', 2);
/** Share of the tracks that take writes. */
const HOT_SHARE = 0.1;
/** Write ticks: RATE is spread over ticks of this length. */
const TICK_MS = 10;
/** Bound on how long a precopy may run before ACTIVATE. */
const MAX_PRECOPY_MS = 30 * 60_000;

const WORK = join(ROOT, 'bench', 'work');
mkdirSync(WORK, { recursive: true });
const log = (text) => process.stderr.write(`${text}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const sourcePath = join(WORK, `clone-source-${CYLINDERS}cyl.ckd`);

if (!existsSync(sourcePath)) {
  log(`making ${sourcePath} (${CYLINDERS} cylinders, 40% full) ...`);
  const v = createVolume(sourcePath, { type: '3390', cylinders: CYLINDERS, volser: 'CLNSRC' });
  fillVolume(v, { seed: 8, percent: 40 });
  v.close();
}

/** Writes RATE host writes per second to random hot tracks until stopped. */
function hostLoad(volume, hot, seed) {
  const prng = new Prng(seed);
  let writes = 0;
  let carry = 0;
  const timer = setInterval(() => {
    carry += (RATE * TICK_MS) / 1000;
    for (; carry >= 1; carry--) {
      const data = Buffer.alloc(200 + prng.below(3000));
      prng.fill(data);
      volume.writeTrackRecords(hot[prng.below(hot.length)], [{ key: Buffer.alloc(0), data }]);
      writes++;
    }
  }, TICK_MS);
  return {
    stop: () => clearInterval(timer),
    get writes() {
      return writes;
    },
  };
}

async function scenario(name, precopy, pool) {
  const source = openVolume(sourcePath);
  const targetPath = join(WORK, `clone-target-${name}.ckd`);
  rmSync(targetPath, { force: true });
  rmSync(`${targetPath}.sizes`, { force: true });
  const target = createVolume(targetPath, { type: '3390', cylinders: CYLINDERS, volser: 'CLNDST', force: true });
  const tracks = source.ckd.trackCount;
  const hot = Array.from({ length: Math.floor(tracks * HOT_SHARE) }, (_, i) => Math.floor(i / HOT_SHARE) + 7).filter((t) => t < tracks);
  const load = hostLoad(source, hot, 99);
  try {
    const started = Date.now();
    const session = CloneSession.create(source, target, { pool, precopy });
    if (precopy) {
      // The precopy has passed the volume once when only rewritten tracks remain: at most the hot set.
      while (Date.now() - started < MAX_PRECOPY_MS && (session.status().passes < 1 || session.status().tracksLeft > hot.length)) await sleep(20);
    }
    const precopyMs = Date.now() - started;
    session.activate();
    const atActivate = session.status();
    const activated = Date.now();
    await session.whenCopied();
    const backgroundMs = Date.now() - activated;
    const final = session.status();
    session.terminate();
    return {
      name,
      tracks,
      hotTracks: hot.length,
      tracksLeftAtActivate: atActivate.tracksLeft,
      recopiesBeforeActivate: atActivate.recopies,
      precopyPasses: atActivate.passes,
      precopySeconds: precopyMs / 1000,
      backgroundCopySeconds: backgroundMs / 1000,
      copiedOnDemand: final.copiedOnDemand,
      hostWrites: load.writes,
      gbCopied: final.bytesCopied / 1e9,
    };
  } finally {
    load.stop();
    source.close();
    target.close();
  }
}

const pool = new CopyPool(WORKERS);
try {
  log(`clone bench: ${CYLINDERS} cylinders, ${RATE} writes/s on 10% of the tracks, ${WORKERS} workers`);
  const without = await scenario('no-precopy', false, pool);
  log(JSON.stringify(without));
  const withPrecopy = await scenario('precopy', true, pool);
  log(JSON.stringify(withPrecopy));
  const results = {
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
    cylinders: CYLINDERS,
    rate: RATE,
    workers: WORKERS,
    runs: [without, withPrecopy],
  };
  writeFileSync(join(WORK, 'clone-bench.json'), `${JSON.stringify(results, null, 2)}\n`);
  const row = (r) =>
    `| ${r.name} | ${r.tracks} | ${r.hotTracks} | ${r.tracksLeftAtActivate} | ${r.recopiesBeforeActivate} | ${r.precopySeconds.toFixed(2)} | ${r.backgroundCopySeconds.toFixed(2)} | ${r.copiedOnDemand} | ${r.gbCopied.toFixed(2)} |`;
  process.stdout.write(
    [
      `### Clone: PRECOPY before ACTIVATE (3390, ${CYLINDERS} cylinders, ${RATE} host writes/s on a 10% hot set, ${WORKERS} workers, ${results.machine})`,
      '',
      '| run | tracks | hot tracks | tracks left at ACTIVATE | re-copies before ACTIVATE | precopy s | background copy after ACTIVATE s | copied on demand | GB copied |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      row(without),
      row(withPrecopy),
      '',
      `Background copy after ACTIVATE with a precopy: ${((withPrecopy.backgroundCopySeconds / Math.max(without.backgroundCopySeconds, 1e-3)) * 100).toFixed(1)}% of the time without one.`,
      '',
    ].join('\n'),
  );
} finally {
  await pool.close();
}
