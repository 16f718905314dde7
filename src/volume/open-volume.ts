/**
 * Creating and opening a volume: the image file (CKD, CCKD, FBA, multi-file) or a mapped volume of
 * a subsystem, wrapped in a Volume. New volumes get their label and VTOC here.
 */
import { createImage } from '../image/create-image.js';
import { openImage, type ImageFormat } from '../image/open-image.js';
import type { CckdCompression } from '../image/cckd-layouts.js';
import type { OnPhaseProgress } from '../base/phase-progress.js';
import { parseGeometry, type VolumeGeometry } from '../geometry/volume-geometry.js';
import { Volume } from './volume.js';
import { TrackSizeTable } from './track-size-table.js';
import { EMPTY_TRACK_BYTES } from '../ckd/track-layout.js';
import { initializeNewVolume } from '../vtoc/volume-init.js';
import { checkVolser } from '../vtoc/dataset-attributes.js';
import { rmSync } from 'node:fs';
import { isMappedVolumePath } from '../subsystem/mapped-volumes.js';
import { openMappedVolume } from './mapped-volume.js';
import { installSecondaryGuard } from './secondary-guard.js';

export interface CreateVolumeOptions {
  readonly type: string;
  readonly cylinders?: number;
  readonly blocks?: number;
  readonly volser: string;
  readonly owner?: string;
  /** VTOC tracks; 0 = none, as dasdinit. */
  readonly vtocTracks?: number;
  readonly force?: boolean;
  /** `cckd` makes a compressed Hercules image (default `ckd`: uncompressed). */
  readonly format?: 'ckd' | 'cckd';
  readonly compression?: CckdCompression;
  /** The empty tracks of an uncompressed CKD image as they are written (createImage's `onProgress`). */
  readonly onProgress?: OnPhaseProgress;
  /** Tracks 1 up to this are left unformatted: the caller writes each before the volume is used (createImage's). */
  readonly tracksWrittenByCaller?: number;
}

/** Creates a new sparse volume image (Hercules CKD, CCKD or FBA) at `path`, labelled with `options.volser`, and returns it open for writing (close it when done). Throws UsageError for a bad volser, device type or size, TargetExistsError when the file exists without `force`, IoError when it cannot be written. */
export function createVolume(path: string, options: CreateVolumeOptions): Volume {
  const volser = checkVolser(options.volser);
  const geometry: VolumeGeometry = parseGeometry(options.type, { cylinders: options.cylinders, blocks: options.blocks });
  const image = createImage(path, geometry, {
    force: options.force,
    format: options.format,
    compression: options.compression,
    onProgress: options.onProgress,
    tracksWrittenByCaller: options.tracksWrittenByCaller,
  });
  // Every track of a new image is empty (or a hole the caller writes, whose zeros that size bounds):
  // no need to scan for the size table.
  const sizes = geometry.kind === 'ckd' ? TrackSizeTable.uniform(geometry.trackCount, EMPTY_TRACK_BYTES) : undefined;
  const volume = new Volume(image, sizes);
  try {
    return initializeNewVolume(volume, { volser, owner: options.owner, vtocTracks: options.vtocTracks });
  } catch (error) {
    // A volume without its label is no volume: it goes before the lock does, and the size table
    // that closing writes goes after.
    rmSync(path, { force: true });
    volume.close();
    rmSync(`${path}.sizes`, { force: true });
    throw error;
  }
}

/** Opens a volume image (CKD, CCKD, FBA, multi-file, or a mapped volume of a subsystem folder), detecting its format unless `options.format` says it, and takes its lock (shared when `readOnly`). Close it when done. Throws ImageFormatError for a file that is no volume, LockedError when another process holds it, IoError when it cannot be read. */
export function openVolume(
  path: string,
  options: {
    readOnly?: boolean;
    format?: ImageFormat;
    shadows?: readonly string[];
    /** The mirror that owns this secondary opens it: no guard, the mirror keeps its role file. */
    mirrorSecondary?: boolean;
  } = {},
): Volume {
  // A mapped volume (a track directory in a subsystem folder, issue 6) is recognised by its magic.
  const volume =
    options.format === undefined && isMappedVolumePath(path) ? openMappedVolume(path, { readOnly: options.readOnly }) : new Volume(openImage(path, options));
  if (options.mirrorSecondary) return volume;
  try {
    // A mirror's secondary (it has a role file) refuses writes unless split, and records them when split.
    installSecondaryGuard(volume);
  } catch (error) {
    volume.close();
    throw error;
  }
  return volume;
}

/** Runs `body` on an opened volume and closes it (releasing the lock) whatever happens. */
export function withVolume<T>(path: string, options: { readOnly?: boolean; format?: ImageFormat }, body: (volume: Volume) => T): T {
  const volume = openVolume(path, options);
  try {
    return body(volume);
  } finally {
    volume.close();
  }
}

/** The same for an async body: the volume stays open (and locked) until the promise settles. */
export async function withVolumeAsync<T>(
  path: string,
  options: { readOnly?: boolean; format?: ImageFormat },
  body: (volume: Volume) => Promise<T>,
): Promise<T> {
  const volume = openVolume(path, options);
  try {
    return await body(volume);
  } finally {
    volume.close();
  }
}
