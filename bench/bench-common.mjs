// Shared pieces of the bench scripts: the median they report, and the no-session host-load
// baseline (HostLoad on a volume, no session, for a fixed time) that the latency figures compare with.
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
