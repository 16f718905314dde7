/**
 * One writable pool per subsystem folder per process. Every mapped volume of a folder that this
 * process opens for writing shares it (so the server can serve a source and its snapshot at
 * once), and the pool lock is held while any of them is open. Another process that wants to
 * write volumes of the same folder is refused with a LockedError naming the holder.
 */
import { realpathSync } from 'node:fs';
import { assert } from '../base/assert.js';
import { releaseFinishedPins } from './slot-pins.js';
import { TrackPool, type PoolOptions } from './track-pool.js';

interface Holder {
  readonly pool: TrackPool;
  users: number;
}

// Main thread only.
const holders = new Map<string, Holder>();

function keyOf(dir: string): string {
  return realpathSync(dir);
}

/** The folder's writable pool, opened on first use; pair every call with `releasePool`. */
export function acquirePool(dir: string, options: PoolOptions = {}): TrackPool {
  const key = keyOf(dir);
  const held = holders.get(key);
  if (held) {
    held.users++;
    return held.pool;
  }
  const pool = TrackPool.open(dir, options);
  try {
    releaseFinishedPins(pool);
  } catch (error) {
    pool.close();
    throw error;
  }
  holders.set(key, { pool, users: 1 });
  return pool;
}

export function releasePool(pool: TrackPool): void {
  const key = keyOf(pool.dir);
  const held = holders.get(key);
  assert(held !== undefined && held.pool === pool, `the pool of ${pool.dir} is held`);
  held.users--;
  if (held.users > 0) return;
  holders.delete(key);
  pool.close();
}

/** True when this process holds the folder's pool (tests, the check tool). */
export function isPoolHeld(dir: string): boolean {
  return holders.has(keyOf(dir));
}
