/**
 * Where a backup writes and what it may be asked: opening the tape target (a new tape file, or a
 * region of an FBA volume from block N0) after checking there is room, and checking every option
 * before anything is created, so that a bad one leaves nothing behind.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { NoSpaceError, SessionError, UsageError } from '../../errors/snaptape-error.js';
import { MAX_COPY_WORKERS } from '../../engine/copy-pool.js';
import { openImage } from '../../image/open-image.js';
import { MappedTapeWriter } from '../../tape/mapped-tape-writer.js';
import type { TapePlan } from '../../tape/tape-plan.js';
import type { ImageLock } from '../../image/image-lock.js';
import { Volume } from '../../volume/volume.js';
import { hostFreeBytes } from '../../volume/host-space.js';
import type { TapeBackupOptions } from './backup-types.js';

export function defaultTapeVolser(sourceVolser: string): string {
  return `T${sourceVolser.replace(/[^A-Z0-9]/g, '').slice(0, 5) || 'APE01'}`;
}

/**
 * Refuses a target that cannot hold the tape, before anything is written: the tape file is sparse
 * until the copy fills it, so without this check a full disk would only show half-way through.
 */
export function checkRoomForTape(tapePath: string, sizeBytes: number, force: boolean): void {
  const directory = dirname(resolve(tapePath));
  const freeBytes = hostFreeBytes(directory);
  if (freeBytes === undefined) return; // No answer from statfs: the copy itself will report ENOSPC.
  const reclaimable = force && existsSync(tapePath) ? statSync(tapePath).blocks * 512 : 0;
  if (freeBytes + reclaimable < sizeBytes) {
    throw new NoSpaceError(`Cannot back up to ${tapePath}: the tape needs ${sizeBytes} bytes and ${directory} has ${freeBytes} free`, {
      path: tapePath,
      neededBytes: sizeBytes,
      freeBytes,
    });
  }
}

/** Opens the tape target: a new tape file, or a region of an FBA volume from block N0. */
export function openTapeTarget(
  volume: Volume,
  options: TapeBackupOptions,
  plan: TapePlan,
  tapeLock?: ImageLock,
): { writer: MappedTapeWriter; targetVolume?: Volume } {
  if (options.tapeStartBlock === undefined) {
    checkRoomForTape(options.tapePath, plan.sizeBytes, options.force ?? false);
    return { writer: MappedTapeWriter.create(options.tapePath, plan, { force: options.force, lock: tapeLock }) };
  }
  const target = new Volume(openImage(options.tapePath));
  try {
    if (target.geometry.kind !== 'fba')
      throw new UsageError(`Cannot write a tape onto ${options.tapePath}: it is not an FBA volume`, { path: options.tapePath });
    const blocksNeeded = Math.ceil(plan.sizeBytes / target.geometry.blockBytes);
    if (options.tapeStartBlock < 0 || options.tapeStartBlock + blocksNeeded > target.geometry.blockCount) {
      throw new NoSpaceError(
        `Cannot write the tape onto ${options.tapePath}: it needs ${blocksNeeded} blocks from block ${options.tapeStartBlock}, the volume has ${target.geometry.blockCount}`,
        { path: options.tapePath, neededBlocks: blocksNeeded },
      );
    }
    return { writer: MappedTapeWriter.openRegion(options.tapePath, plan, options.tapeStartBlock * target.geometry.blockBytes), targetVolume: target };
  } catch (error) {
    target.close();
    throw error;
  }
}

export function checkWritable(volume: Volume): void {
  if (volume.readOnly)
    throw new SessionError(`Cannot back up ${volume.path}: open it for writing, so that host writes can be intercepted`, { path: volume.path });
}

/** Checks every option before anything is created, so that a bad one leaves no tape behind. */
export function checkOptions(volume: Volume, options: TapeBackupOptions): void {
  const bad = (what: string): never => {
    throw new UsageError(`Cannot back up ${volume.path}: ${what}`, { path: volume.path });
  };
  if (options.workers !== undefined && (!Number.isInteger(options.workers) || options.workers < 1 || options.workers > MAX_COPY_WORKERS)) {
    bad(`${options.workers} workers is outside 1-${MAX_COPY_WORKERS}`);
  }
  if (options.throttleMbps !== undefined && !(Number.isFinite(options.throttleMbps) && options.throttleMbps > 0))
    bad(`--throttle-mbps ${options.throttleMbps} is not a rate above 0`);
  if (options.pauseAfter !== undefined && !(Number.isInteger(options.pauseAfter) && options.pauseAfter >= 0))
    bad(`--pause-after ${options.pauseAfter} is not a count`);
  if (options.cbwTimeoutMs !== undefined && !(Number.isInteger(options.cbwTimeoutMs) && options.cbwTimeoutMs > 0))
    bad(`--cbw-timeout ${options.cbwTimeoutMs} is not a positive number of ms`);
  if (samePath(options.tapePath, volume.path)) bad(`the tape ${options.tapePath} is the source volume itself`);
  // A spool is created over what is there (with --force) and removed once the tape is complete: the
  // source or the tape in its place would be cut, then deleted.
  const spool = options.spoolPath;
  if (spool !== undefined && samePath(spool, volume.path)) bad(`the spool ${spool} is the source volume itself`);
  if (spool !== undefined && samePath(spool, options.tapePath)) bad(`the spool ${spool} is the tape itself`);
}

/** True when two paths name the same file: through symbolic links, and through hard links (one device and inode) when both exist. */
export function samePath(a: string, b: string): boolean {
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  if (real(a) === real(b)) return true;
  const sa = statSync(a, { throwIfNoEntry: false });
  const sb = statSync(b, { throwIfNoEntry: false });
  return sa !== undefined && sb !== undefined && sa.dev === sb.dev && sa.ino === sb.ino;
}
