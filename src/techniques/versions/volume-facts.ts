/**
 * A volume's facts (geometry, size) read from its image, for the volume inventory. They are read at
 * `pool add` and again at every target selection (issue 21), since an image may be replaced,
 * resized or removed in between: an image that cannot be opened is unavailable.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { VolumeFacts } from '../../catalog/catalog-inventory.js';
import type { Db } from '../../catalog/catalog.js';
import { isSnaptapeError } from '../../errors/snaptape-error.js';
import { liveLockOwner } from '../../image/image-lock.js';
import { openVolume } from '../../volume/open-volume.js';
import { describeVolume } from '../../vtoc/volume-listing.js';

/** The inventory's facts about an image, read from the image itself. Throws the errors of openVolume. */
export function volumeFacts(path: string): VolumeFacts {
  const volume = openVolume(path, { readOnly: true });
  try {
    const listing = describeVolume(volume);
    return {
      path: resolve(path),
      volser: listing.volser,
      format: listing.format,
      deviceType: listing.deviceType,
      heads: listing.heads ?? 0,
      cylinders: listing.cylinders ?? 0,
      units: listing.tracks ?? listing.blocks ?? 0,
    };
  } finally {
    volume.close();
  }
}

/**
 * Reads each image again and writes what changed into the volume inventory (inside the caller's
 * transaction). Returns, for each image that cannot be opened, why: those volumes are unavailable.
 */
export function refreshFacts(db: Db, paths: Iterable<string>): Map<string, string> {
  const unavailable = new Map<string, string>();
  const update = db.prepare(
    'UPDATE volumes SET volser = @volser, format = @format, device_type = @deviceType, heads = @heads, cylinders = @cylinders, units = @units WHERE path = @path',
  );
  for (const path of paths) {
    try {
      update.run(volumeFacts(path));
    } catch (error) {
      if (!isSnaptapeError(error)) throw error;
      unavailable.set(path, error.message);
    }
  }
  return unavailable;
}

/**
 * `refreshFacts` for target candidates: an image that opens but is held now by a live process (its
 * `<image>.lock`: a `serve` exports it, a backup or another version writes it) cannot take a copy
 * either, so it is unavailable too, with its holder named.
 */
export function refreshTargetFacts(db: Db, paths: readonly string[]): Map<string, string> {
  const unavailable = refreshFacts(db, paths);
  for (const path of paths) {
    if (unavailable.has(path)) continue;
    const owner = liveLockOwner(path);
    if (owner !== undefined) unavailable.set(path, `locked by process ${owner.pid}${owner.host ? ` on ${owner.host}` : ''} (${path}.lock)`);
  }
  return unavailable;
}

/**
 * Each image's file (device and inode, through links): two volume entries of one file, by a link or
 * a path entered in two pools, are one volume to copy from or onto. An image that cannot be
 * stat'ed has none (it is unavailable anyway).
 */
export function fileIdentities(paths: Iterable<string>): Map<string, string> {
  const files = new Map<string, string>();
  for (const path of paths) {
    const stat = statSync(path, { throwIfNoEntry: false, bigint: true });
    if (stat !== undefined) files.set(path, `${stat.dev}:${stat.ino}`);
  }
  return files;
}
