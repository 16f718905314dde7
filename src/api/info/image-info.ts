/**
 * `info` of a volume: its format (CKD, CCKD and its compression, FBA, multi-file, mapped), device
 * type, geometry, volser, size as the guest sees it and bytes the host really holds (sparse files
 * hold less). Read-only: the volume is opened read-only and the header read through its own fd.
 */
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { readAtMost } from '../../base/file-io.js';
import type { CheckTarget } from '../../check/check-target.js';
import { translateIoError } from '../../errors/io-error.js';
import { decodeCckdHeader } from '../../image/cckd-header.js';
import { CCKD_COMPRESSION, type CckdCompression } from '../../image/cckd-layouts.js';
import { CKD_HEADER_BYTES } from '../../image/ckd-image-header.js';
import { MULTI_FILE_MAX_FILES, multiFilePartPath } from '../../image/multi-file-backend.js';
import { withVolume } from '../../volume/open-volume.js';
import { describeVolume } from '../../vtoc/volume-listing.js';

export type ImageInfoFormat = 'ckd' | 'cckd' | 'fba' | 'multi-file-ckd' | 'mapped';

export interface ImageInfo {
  readonly kind: 'image';
  readonly path: string;
  readonly format: ImageInfoFormat;
  /** The compression of a CCKD image; null for the other formats. */
  readonly compression: CckdCompression | null;
  readonly deviceType: string;
  readonly volser: string;
  readonly geometry: { readonly cylinders: number; readonly heads: number; readonly tracks: number } | { readonly blocks: number };
  readonly unit: 'track' | 'block';
  readonly units: number;
  /** Bytes of one unit as the image stores it (the track slot, or 512). */
  readonly unitBytes: number;
  /** units × unitBytes: the size of the volume, whatever the file holds. */
  readonly virtualBytes: number;
  /**
   * The image's files (several for a multi-file volume), their apparent size, and what the host
   * allocated for them. A mapped volume's file is its track directory: its tracks live in the
   * subsystem's pool (`snaptape subsystem usage`), shared with its snapshots, and are not counted.
   */
  readonly files: readonly string[];
  readonly fileBytes: number;
  readonly allocatedBytes: number;
}

/** Apparent and allocated bytes of `files` (st_blocks is in 512-byte units on Linux and macOS). */
export function diskBytes(files: readonly string[]): { fileBytes: number; allocatedBytes: number } {
  let fileBytes = 0;
  let allocatedBytes = 0;
  for (const file of files) {
    const stat = statSync(file);
    fileBytes += stat.size;
    allocatedBytes += stat.blocks * 512;
  }
  return { fileBytes, allocatedBytes };
}

function cckdCompression(path: string): CckdCompression {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw translateIoError(error, 'read the CCKD header', path);
  }
  try {
    const header = Buffer.alloc(512);
    readAtMost(fd, header, CKD_HEADER_BYTES, path, 'the CCKD header');
    const code = decodeCckdHeader(header).compression;
    const name = (Object.keys(CCKD_COMPRESSION) as CckdCompression[]).find((n) => CCKD_COMPRESSION[n] === code);
    return name ?? 'none';
  } finally {
    closeSync(fd);
  }
}

function multiFileParts(path: string): string[] {
  const parts = [path];
  for (let n = 2; n <= MULTI_FILE_MAX_FILES && existsSync(multiFilePartPath(path, n)); n++) parts.push(multiFilePartPath(path, n));
  return parts;
}

function formatOf(target: CheckTarget): ImageInfoFormat {
  if (target.kind === 'subsystem') return 'mapped';
  if (target.kind === 'image' && target.format !== 'cckd-shadow') return target.format;
  return 'ckd';
}

/** The info of the volume at `target.path` (an image, or a mapped volume of a subsystem). */
export function imageInfo(target: CheckTarget): ImageInfo {
  const path = target.path;
  const format = formatOf(target);
  return withVolume(path, { readOnly: true }, (volume) => {
    const listing = describeVolume(volume);
    const g = volume.geometry;
    const files = format === 'multi-file-ckd' ? multiFileParts(path) : [path];
    const unitBytes = g.kind === 'ckd' ? g.trackSlotBytes : 512;
    return {
      kind: 'image',
      path,
      format,
      compression: format === 'cckd' ? cckdCompression(path) : null,
      deviceType: g.typeName,
      volser: listing.volser,
      geometry: g.kind === 'ckd' ? { cylinders: g.cylinders, heads: g.heads, tracks: g.trackCount } : { blocks: g.blockCount },
      unit: g.kind === 'ckd' ? 'track' : 'block',
      units: volume.unitCount,
      unitBytes,
      virtualBytes: volume.unitCount * unitBytes,
      files,
      ...diskBytes(files),
    };
  });
}
