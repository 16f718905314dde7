/**
 * Pins: a copy of a directory kept in `<dir>/pins/<id>` that holds one reference on each of its
 * slots, so that those slots stay as they were while a background reader (the physical copy of a
 * snapshot) reads them straight from the pool file, without the pool lock. Writes to either volume
 * copy-on-write away from a pinned slot, because its count is above 1.
 *
 * A finished reader writes `<id>.done`; the next process to open the pool for writing drops the
 * pin's references and removes both files. `subsystem check` counts pins as references.
 */
import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { translateIoError } from '../errors/io-error.js';
import { durableReplace } from '../image/durable-replace.js';
import { PINS_DIR, UNALLOCATED_SLOT } from './subsystem-layouts.js';
import { TrackDirectory } from './track-directory.js';
import type { TrackPool } from './track-pool.js';

const DONE_SUFFIX = '.done';

export function pinPath(dir: string, id: string): string {
  return join(dir, PINS_DIR, id);
}

/** Pin files (directories) in the folder, finished or not. */
export function listPins(dir: string): string[] {
  const pins = join(dir, PINS_DIR);
  if (!existsSync(pins)) return [];
  return readdirSync(pins)
    .filter((n) => !n.includes('.'))
    .map((n) => join(pins, n));
}

/** Pins `directory` (open, current) under `id`: the file is written and synced, then counted. */
export function createPin(pool: TrackPool, directory: TrackDirectory, id: string): string {
  const path = pinPath(pool.dir, id);
  try {
    durableReplace(path, directory.fileBytes(), `pin ${directory.path}`);
  } catch (error) {
    throw translateIoError(error, `pin ${directory.path}`, path);
  }
  const changes: Array<{ slot: number; delta: number }> = [];
  for (const slot of directory.slots) if (slot !== UNALLOCATED_SLOT) changes.push({ slot, delta: 1 });
  pool.adjust(changes);
  return path;
}

export function markPinDone(dir: string, id: string): void {
  durableReplace(`${pinPath(dir, id)}${DONE_SUFFIX}`, `${new Date().toISOString()}\n`, `mark pin ${id} done`);
}

/** Drops the references of every finished pin (called when a process takes the pool for writing). */
export function releaseFinishedPins(pool: TrackPool): number {
  let released = 0;
  for (const path of listPins(pool.dir)) {
    if (!existsSync(`${path}${DONE_SUFFIX}`)) continue;
    const pinned = TrackDirectory.open(path, pool.shape.family, { readOnly: true });
    const changes: Array<{ slot: number; delta: number; extentBytes: number }> = [];
    pinned.slots.forEach((slot, t) => {
      if (slot !== UNALLOCATED_SLOT) changes.push({ slot, delta: -1, extentBytes: pinned.extents[t] as number });
    });
    pinned.close();
    pool.adjust(changes);
    unlinkSync(path);
    unlinkSync(`${path}${DONE_SUFFIX}`);
    released++;
  }
  return released;
}
