/**
 * Creates a new, sparse image file: for CKD the device header and, in every track slot, only the
 * home address, R0 and the end-of-track marker (what `dasdinit` writes; 29 bytes a track, so the file
 * takes one file-system block per track on disk); for FBA just the file length. Nothing else is
 * written: the rest of the file is a hole. A caller that writes tracks 1..n-1 itself before the image
 * is used (a whole-volume restore into a new volume) has them left as holes (`tracksWrittenByCaller`).
 */
import { ftruncateSync, openSync, existsSync, rmSync } from 'node:fs';
import { TargetExistsError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { encodeTrack, emptyTrack } from '../ckd/track-codec.js';
import { cchhOf } from '../geometry/cchh.js';
import { unitCount, unitSlotBytes, type VolumeGeometry } from '../geometry/volume-geometry.js';
import { CKD_HEADER_BYTES, encodeCkdHeader } from './ckd-image-header.js';
import { lockImage } from './image-lock.js';
import { SlotFile } from './slot-file.js';
import type { ImageBackend } from './image-backend.js';
import type { CckdCompression } from './cckd-layouts.js';
import { createCckdImage } from './cckd-create.js';
import { UsageError } from '../errors/snaptape-error.js';
import { PhaseReporter, type OnPhaseProgress } from '../base/phase-progress.js';
import { fileIdentity, type FileIdentity } from '../base/file-io.js';

export interface CreateImageOptions {
  /** Replace an existing file. */
  readonly force?: boolean;
  /** `cckd`: a compressed Hercules image (cckd-create.ts); default `ckd` (or FBA by geometry). */
  readonly format?: 'ckd' | 'cckd';
  /** Compression of a CCKD image's tracks (default zlib). */
  readonly compression?: CckdCompression;
  /**
   * An uncompressed CKD image: write, in tracks (one small write per track, which on a large
   * volume takes seconds). CCKD and FBA images write no track one by one, so report nothing.
   */
  readonly onProgress?: OnPhaseProgress;
  /**
   * Told which file was made (from its descriptor, file-io.ts FileIdentity), before a byte of it is
   * written: for a caller that renames it later, and must rename only that file (renameOwnFile).
   */
  readonly created?: (identity: FileIdentity) => void;
  /**
   * An uncompressed CKD image: tracks 1 up to this (excluded) are not formatted, left as holes that
   * read as zeros, because the caller writes each of them before the image is used and removes the
   * image when it cannot (a whole-volume restore into a new volume: 50,085 small writes fewer on a
   * 3390-3). Track 0, where the volume label goes, and the tracks from this one on are formatted.
   * Default 0: every track is.
   */
  readonly tracksWrittenByCaller?: number;
}

/** Creates the image and returns it open for writing (locked). */
export function createImage(path: string, geometry: VolumeGeometry, options: CreateImageOptions = {}): ImageBackend {
  if (options.format === 'cckd') {
    if (geometry.kind !== 'ckd') throw new UsageError(`Cannot create ${path} as CCKD: compressed images are CKD volumes (3390, 3380), not FBA`, { path });
    return createCckdImage(path, geometry, { force: options.force, compression: options.compression, created: options.created });
  }
  if (!options.force && existsSync(path)) {
    throw new TargetExistsError(`Cannot create ${path}: the file exists (use --force to replace it)`, { path });
  }
  const lock = lockImage(path);
  let fd: number;
  try {
    fd = openSync(path, options.force ? 'w+' : 'wx+');
  } catch (error) {
    lock.release();
    if ((error as { code?: string }).code === 'EEXIST')
      throw new TargetExistsError(`Cannot create ${path}: the file exists (use --force to replace it)`, { path });
    throw translateIoError(error, `create ${path}`, path);
  }
  const dataOffsetBytes = geometry.kind === 'ckd' ? CKD_HEADER_BYTES : 0;
  const slotBytes = unitSlotBytes(geometry);
  const file = new SlotFile({ path, fd, geometry, dataOffsetBytes, slotBytes, readOnly: false, lock });
  try {
    options.created?.(fileIdentity(fd, path, 'the image'));
    ftruncateSync(fd, dataOffsetBytes + unitCount(geometry) * slotBytes);
    if (geometry.kind === 'ckd') {
      file.writeHeader(
        encodeCkdHeader({ heads: geometry.heads, trackSlotBytes: slotBytes, devtypeByte: geometry.family.devtypeByte, fileSequence: 0, highCylinder: 0 }),
      );
      const progress = new PhaseReporter(options.onProgress);
      const skipped = Math.max(0, Math.min(geometry.trackCount, options.tracksWrittenByCaller ?? 0) - 1);
      progress.begin('write', geometry.trackCount - skipped, 'tracks');
      for (let t = 0; t < geometry.trackCount; t = t === 0 ? 1 + skipped : t + 1) {
        file.writeUnit(t, encodeTrack(emptyTrack(cchhOf(geometry, t))));
        progress.advance();
      }
    }
  } catch (error) {
    // A half-made image is no image: it goes while the lock still says it is ours.
    rmSync(path, { force: true });
    file.close();
    throw translateIoError(error, `create ${path}`, path);
  }
  return file;
}
