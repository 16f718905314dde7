/**
 * `snaptape subsystem check <dir> [--repair]`: rebuilds the reference counts from the
 * directories (every mapped volume, and every pin), compares them with pool.refs, and reports:
 * - leaked slots: counted as used, but no directory points at them (space lost, data safe);
 * - double-used slots: more pointers than the count says while the count is 1 or less, so a
 *   write would land in place and show through to another volume (the dangerous case);
 * - other miscounts, and whether the pool was left open by a process that ended (a crash).
 * `--repair` writes the rebuilt counts and marks the pool clean. A directory or pool file that is
 * damaged stops the check with a typed error before anything is written; pointers outside the
 * pool cannot be repaired (their data is gone) and are an error too.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { PhaseReporter, type OnPhaseProgress } from '../base/phase-progress.js';
import { lockImage } from '../image/image-lock.js';
import { listPins } from './slot-pins.js';
import { POOL_LOCK_NAME, REFS_STATE, UNALLOCATED_SLOT } from './subsystem-layouts.js';
import { TrackDirectory } from './track-directory.js';
import { readPoolShape, readRefs, TrackPool } from './track-pool.js';

/** Slot numbers listed in a report at most (the counts are always complete). */
export const MAX_LISTED_SLOTS = 100;

export interface CheckReport {
  readonly dir: string;
  readonly slotCount: number;
  readonly referencedSlots: number;
  readonly freeSlots: number;
  readonly volumes: readonly string[];
  readonly pins: number;
  /** The pool was not closed cleanly (a process holding it ended). */
  readonly wasOpen: boolean;
  readonly leaked: number;
  readonly doubleUsed: number;
  readonly miscounted: number;
  readonly leakedSlots: readonly number[];
  readonly doubleUsedSlots: readonly number[];
  readonly repaired: boolean;
  /** True when nothing is wrong (after the repair, if one was made). */
  readonly clean: boolean;
}

/** Every mapped volume file in the folder: regular files whose names have no dot. */
export function listVolumeFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => !n.includes('.'))
    .map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile())
    .sort();
}

/** Counts the pointers of every directory (volumes and pins); throws on a damaged one. */
export function countReferences(
  dir: string,
  slotCount: number,
  progress: PhaseReporter = new PhaseReporter(),
): { counts: Uint32Array; volumes: string[]; pins: number } {
  const { family } = readPoolShape(dir);
  const counts = new Uint32Array(slotCount);
  const volumes = listVolumeFiles(dir);
  const pins = listPins(dir);
  progress.begin('check', volumes.length + pins.length, 'directories');
  for (const path of [...volumes, ...pins]) {
    progress.advance();
    const directory = TrackDirectory.open(path, family, { readOnly: true });
    try {
      directory.slots.forEach((slot, t) => {
        if (slot === UNALLOCATED_SLOT) return;
        if (slot >= slotCount) {
          throw new ImageFormatError(
            `Cannot check ${dir}: track ${t} of ${path} points at slot ${slot}, outside the pool's ${slotCount} slots (the track's data is lost; restore the volume)`,
            { path, track: t, slot },
          );
        }
        counts[slot] = (counts[slot] as number) + 1;
      });
    } finally {
      directory.close();
    }
  }
  return { counts, volumes: volumes.map((p) => p.slice(dir.length + 1)), pins: pins.length };
}

/** Checks a subsystem folder: the pool's slot counts against every mapped volume and snapshot pin, under the pool lock; with `repair`, fixes what it can. Throws ImageFormatError when the folder does not exist, LockedError when the pool is busy. */
export function checkSubsystem(dir: string, options: { repair?: boolean; onProgress?: OnPhaseProgress } = {}): CheckReport {
  if (!existsSync(dir)) throw new ImageFormatError(`Cannot check ${dir}: no such folder`, { path: dir, offset: 0 });
  // Counted under the pool lock, so no writer changes the counts meanwhile.
  const lock = options.repair ? undefined : lockImage(join(dir, POOL_LOCK_NAME));
  const pool = options.repair ? TrackPool.open(dir, { allowUnclean: true }) : undefined;
  try {
    const slotCount = pool ? pool.totalSlots : readPoolShape(dir).slotCount;
    const stored = readRefs(dir, slotCount);
    const truth = countReferences(dir, slotCount, new PhaseReporter(options.onProgress));
    const leakedSlots: number[] = [];
    const doubleUsedSlots: number[] = [];
    let miscounted = 0;
    let referenced = 0;
    for (let s = 0; s < slotCount; s++) {
      const want = truth.counts[s] as number;
      const have = stored.counts[s] as number;
      if (want > 0) referenced++;
      if (want === have) continue;
      miscounted++;
      if (want === 0) leakedSlots.push(s);
      else if (want > 1 && have <= 1) doubleUsedSlots.push(s);
    }
    const wasOpen = stored.state !== REFS_STATE.clean;
    if (pool) pool.replaceCounts(truth.counts);
    const repaired = pool !== undefined;
    return {
      dir,
      slotCount,
      referencedSlots: referenced,
      freeSlots: slotCount - referenced,
      volumes: truth.volumes,
      pins: truth.pins,
      wasOpen,
      leaked: leakedSlots.length,
      doubleUsed: doubleUsedSlots.length,
      miscounted,
      leakedSlots: leakedSlots.slice(0, MAX_LISTED_SLOTS),
      doubleUsedSlots: doubleUsedSlots.slice(0, MAX_LISTED_SLOTS),
      repaired,
      clean: repaired || (miscounted === 0 && !wasOpen),
    };
  } finally {
    pool?.close();
    lock?.release();
  }
}

export interface PoolUsage {
  readonly dir: string;
  readonly family: string;
  readonly slotBytes: number;
  readonly slotCount: number;
  readonly referencedSlots: number;
  readonly volumes: readonly string[];
}

/** Pool usage from the directories (read-only, no lock): what a snapshot costs is counted here. */
export function poolUsage(dir: string): PoolUsage {
  const shape = readPoolShape(dir);
  const truth = countReferences(dir, shape.slotCount);
  let referenced = 0;
  for (const c of truth.counts) if (c > 0) referenced++;
  return { dir, family: shape.family.family, slotBytes: shape.slotBytes, slotCount: shape.slotCount, referencedSlots: referenced, volumes: truth.volumes };
}
