/**
 * The public library API for volumes: create, open (volume/open-volume.ts) and describe. A volume
 * opened for writing here gets its change tracker (techniques/tracking/) when it has one, so that
 * every host write through the library, the CLI and the NBD server is tracked.
 */
import type { ImageFormat } from '../image/open-image.js';
import { ChangeTracker } from '../techniques/tracking/change-tracker.js';
import { openVolume as openPlainVolume } from '../volume/open-volume.js';
import type { Volume } from '../volume/volume.js';

export { createVolume, type CreateVolumeOptions } from '../volume/open-volume.js';
export { describeVolume, type DatasetListing, type ExtentListing, type VolumeListing } from '../vtoc/volume-listing.js';

export interface OpenVolumeOptions {
  readonly readOnly?: boolean;
  readonly format?: ImageFormat;
  readonly shadows?: readonly string[];
}

/** Opens a volume image (CKD, CCKD, FBA, multi-file, or a mapped volume of a subsystem folder), detecting its format unless `options.format` says it, and takes its lock (shared when `readOnly`); a writable volume with change tracking gets its tracker. Close it when done. Throws ImageFormatError for a file that is no volume, LockedError when another process holds it, IoError when it cannot be read, SessionError when its tracking map does not fit it. */
export function openVolume(path: string, options: OpenVolumeOptions = {}): Volume {
  const volume = openPlainVolume(path, options);
  try {
    ChangeTracker.attach(volume);
  } catch (error) {
    volume.close();
    throw error;
  }
  return volume;
}

/** Runs `body` on an opened volume and closes it (releasing the lock) whatever happens. */
export function withVolume<T>(path: string, options: OpenVolumeOptions, body: (volume: Volume) => T): T {
  const volume = openVolume(path, options);
  try {
    return body(volume);
  } finally {
    volume.close();
  }
}

/** The same for an async body: the volume stays open (and locked) until the promise settles. */
export async function withVolumeAsync<T>(path: string, options: OpenVolumeOptions, body: (volume: Volume) => Promise<T>): Promise<T> {
  const volume = openVolume(path, options);
  try {
    return await body(volume);
  } finally {
    volume.close();
  }
}
