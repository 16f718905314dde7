/**
 * Joining a volume's interceptor chain while deferred writes (`Volume.writeFlatDeferred`) may be
 * in flight. A session that joins (a backup's copy-before-write, a mirror, a clone) needs every
 * write that passed the chain before it to have landed, else its workers could read a unit while
 * a write that it never saw is still landing on it. `withWritesLanded` holds deferred writes on the
 * volumes (new ones run synchronously), waits for those in flight, and runs `join` then, before
 * any other callback: the chain that `join` changes decides every later write.
 */
import type { Volume } from './volume.js';

/** Runs `join` once no deferred write is in flight on any of `volumes`; returns what it returns. */
export async function withWritesLanded<T>(volumes: readonly Volume[], join: () => T): Promise<T> {
  const releases = volumes.map((v) => v.holdDeferredWrites());
  try {
    await Promise.all(volumes.map((v) => v.writesLanded()));
    return join();
  } finally {
    releases.forEach((release) => release());
  }
}
