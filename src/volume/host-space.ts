/**
 * Room on the host file system, checked before a command writes (issue 18.5): a sparse image (or a
 * sparse tape file) fills its holes as it is written, so without a check a full disk shows only
 * half-way through a write. `hostFreeBytes` is the one statfs answer; `checkRoomForTrackWrites`
 * refuses a volume write that may newly allocate more than that, before its first byte.
 */
import { statSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { NoSpaceError } from '../errors/snaptape-error.js';
import type { Volume } from './volume.js';

/** Free bytes for an unprivileged writer on the file system holding `directory`; undefined if statfs cannot say. */
export function hostFreeBytes(directory: string): number | undefined {
  try {
    const fs = statfsSync(directory);
    return fs.bavail * fs.bsize;
  } catch {
    return undefined;
  }
}

function blockBytesOf(directory: string): number {
  try {
    return statfsSync(directory).bsize;
  } catch {
    return 4096;
  }
}

/**
 * Refuses to write `trackCount` whole tracks of `volume` when its file system may not hold them.
 * Worst case, every written slot is a hole that the write fills (a slot's bytes, plus a block of
 * rounding); in a file of fixed-offset slots a write can fill no more than the file's holes, so the
 * bound is the smaller of the two. The size table written on close (and its temp copy) is counted
 * too. `action` says what would be done ("put into APP.DATA on").
 */
export function checkRoomForTrackWrites(volume: Volume, trackCount: number, action: string): void {
  const directory = dirname(resolve(volume.path));
  const free = hostFreeBytes(directory);
  if (free === undefined || trackCount === 0) return; // No answer from statfs: the write reports ENOSPC itself.
  const block = blockBytesOf(directory);
  let slotsBytes = trackCount * (volume.backend.slotBytes + block);
  if (volume.backend.location().kind === 'file') {
    const s = statSync(volume.path);
    slotsBytes = Math.min(slotsBytes, Math.max(0, s.size - s.blocks * 512));
  }
  const sizeStoreBytes = volume.geometry.kind === 'ckd' ? 2 * (32 + 4 * volume.ckd.trackCount + block) : 0;
  const needed = slotsBytes + sizeStoreBytes;
  if (needed > free) {
    throw new NoSpaceError(
      `Cannot ${action} ${volume.path}: writing ${trackCount} tracks may need ${needed} bytes of new space and its file system has ${free} bytes free`,
      { path: volume.path, neededBytes: needed, freeBytes: free },
    );
  }
}
