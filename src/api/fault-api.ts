/**
 * Volumes with injected faults, for `--inject` on the CLI and for experiments: the volume's image
 * backend is wrapped in a `FaultyBackend` (src/image/faulty-backend.ts; spec syntax in
 * src/image/fault-plan.ts). Without a spec these are `openVolume` / `withVolume(Async)` unchanged.
 */
import { parseFaultPlan } from '../image/fault-plan.js';
import { FaultyBackend } from '../image/faulty-backend.js';
import { Volume } from '../volume/volume.js';
import { openVolume } from './volume-api.js';

/** Opens `path` for writing with the faults of `spec` (`--inject` syntax) on its reads and writes. */
export function openInjectedVolume(path: string, spec: string | undefined, option = '--inject'): Volume {
  if (spec === undefined) return openVolume(path);
  const plan = parseFaultPlan(spec, option);
  const plain = openVolume(path);
  // The plain Volume is only a way to the opened (and locked) backend; the new one owns it.
  return new Volume(new FaultyBackend(plain.imageBackend, plan));
}

/** Runs `body` on a volume opened through the fault plan `spec` (or none) and closes it whatever happens. Throws UsageError for a bad fault plan; the open's errors are those of openVolume. */
export function withInjectedVolume<T>(path: string, spec: string | undefined, body: (volume: Volume) => T): T {
  const volume = openInjectedVolume(path, spec);
  try {
    return body(volume);
  } finally {
    volume.close();
  }
}

/** Asynchronous form of withInjectedVolume: awaits `body`, then closes the volume whatever happens. */
export async function withInjectedVolumeAsync<T>(path: string, spec: string | undefined, body: (volume: Volume) => Promise<T>): Promise<T> {
  const volume = openInjectedVolume(path, spec);
  try {
    return await body(volume);
  } finally {
    volume.close();
  }
}
