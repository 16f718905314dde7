// Shared pieces of the bench scripts: the median they report, the no-session host-load
// baseline (HostLoad on a volume, no session, for a fixed time) that the latency figures compare
// with, and the mirror resync step that bench/mirror-bench.mjs and the engine compare share.
import { join } from 'node:path';

/** The median (the mean of the middle two for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * A module script (for `node --input-type=module -e`) that runs HostLoad at `rate` writes/s, seed 3,
 * on `source` with no session for `ms`, then prints HostLoad's stats as JSON. `root` is the project.
 */
export function hostLoadBaselineScript(root, source, rate, ms) {
  return `
    import { openVolume } from ${JSON.stringify(join(root, 'dist/api/volume-api.js'))};
    import { HostLoad } from ${JSON.stringify(join(root, 'dist/workload/host-load.js'))};
    const v = openVolume(${JSON.stringify(source)});
    const load = new HostLoad(v, { kind: 'random', ratePerSecond: ${rate} }, 3);
    load.start();
    setTimeout(() => { console.log(JSON.stringify(load.stop())); v.close(); }, ${Math.round(ms)});
  `;
}

/** Resolves when `mirror` (a MirrorSession) next reports a secondary ONGOING (its copy is done). */
export function untilOngoing(mirror) {
  return new Promise((resolve) =>
    mirror.on('state', (_name, state) => {
      if (state === 'ONGOING') resolve();
    }),
  );
}

/**
 * Writes `share` of the units of `primary`, spread over the volume: every (units/changed)-th
 * track gets two 4 KiB records (CKD), or every such 1 MiB of blocks is rewritten (FBA). Returns
 * how many units were written.
 */
export function writeShare(primary, share) {
  if (primary.geometry.kind === 'ckd') {
    const tracks = primary.ckd.trackCount;
    const changed = Math.max(1, Math.round(tracks * share));
    const data = Buffer.alloc(4096, 0x5a);
    for (let i = 0; i < changed; i++)
      primary.writeTrackRecords(Math.floor((i * tracks) / changed), [
        { key: Buffer.alloc(0), data },
        { key: Buffer.alloc(0), data },
      ]);
    return changed;
  }
  const blocks = primary.unitCount;
  const step = 2048;
  const chunk = Buffer.alloc(step * 512, 0xa5);
  const groups = Math.ceil((blocks - 2) / step);
  const changed = Math.max(1, Math.round(groups * share));
  let written = 0;
  for (let i = 0; i < changed; i++) {
    const first = 2 + Math.floor((i * groups) / changed) * step;
    const count = Math.min(step, blocks - first);
    primary.writeBlocks(first, count === step ? chunk : chunk.subarray(0, count * 512));
    written += count;
  }
  return written;
}

/**
 * The resync step of bench/mirror-bench.mjs and bench/engine-compare-driver.mjs: `primary` is
 * mirrored onto `target` (a path or host:port/export) and brought in sync, split, `share` of its
 * units are written, and the rejoin is timed to the ONGOING event (not a status poll, whose period
 * would swamp a small resync). `MirrorSession` is the build's own class (each build's dist/).
 */
export async function timeMirrorResync(MirrorSession, primary, target, share) {
  const mirror = MirrorSession.create(primary, [target]);
  try {
    await mirror.whenInSync({ timeoutMs: 600_000 });
    mirror.split();
    const changed = writeShare(primary, share);
    const ongoing = untilOngoing(mirror);
    const started = process.hrtime.bigint();
    mirror.rejoin();
    await ongoing;
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    return { units: primary.unitCount, changed, copied: mirror.status().mirrors[0].resync.copied, ms };
  } finally {
    await mirror.remove();
  }
}
