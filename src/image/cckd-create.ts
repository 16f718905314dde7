/**
 * Creates a new, empty CCKD volume file: the two headers and an L1 table of zeros, so every track is
 * a null track of format 1 (HA R0 EOT, what dasdinit writes) and the file is a few hundred bytes.
 * The first write of a track adds its L2 table and image.
 */
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { fileIdentity, type FileIdentity } from '../base/file-io.js';
import { TargetExistsError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import { CckdBackend } from './cckd-backend.js';
import { CckdFile } from './cckd-file.js';
import type { CckdCompression } from './cckd-layouts.js';
import { NULL_FORMAT } from './cckd-null-track.js';
import { lockImage } from './image-lock.js';

export interface CreateCckdOptions {
  readonly force?: boolean;
  readonly compression?: CckdCompression;
  /** A shadow file (CKD_S370) for a base of this geometry, instead of a base file. */
  readonly shadow?: boolean;
  /** Told which file was made, before a byte of it is written (create-image.ts CreateImageOptions.created). */
  readonly created?: (identity: FileIdentity) => void;
}

/** Creates the file and returns it open for writing (locked); `CckdFile` only, for shadows. */
export function createCckdFile(path: string, geometry: CkdGeometry, options: CreateCckdOptions = {}): CckdFile {
  if (!options.force && existsSync(path)) throw new TargetExistsError(`Cannot create ${path}: the file exists (use --force to replace it)`, { path });
  let fd: number;
  try {
    fd = openSync(path, options.force ? 'w+' : 'wx+');
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST')
      throw new TargetExistsError(`Cannot create ${path}: the file exists (use --force to replace it)`, { path });
    throw translateIoError(error, `create ${path}`, path);
  }
  try {
    options.created?.(fileIdentity(fd, path, 'the image'));
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return CckdFile.create(path, fd, { geometry, compression: options.compression ?? 'zlib', shadow: options.shadow, nullFormat: NULL_FORMAT.EMPTY });
}

export function createCckdImage(path: string, geometry: CkdGeometry, options: CreateCckdOptions = {}): CckdBackend {
  if (!options.force && existsSync(path)) throw new TargetExistsError(`Cannot create ${path}: the file exists (use --force to replace it)`, { path });
  const lock = lockImage(path);
  try {
    const file = createCckdFile(path, geometry, { ...options, shadow: false });
    return new CckdBackend([file], { readOnly: false, locks: [lock] });
  } catch (error) {
    // A half-made image goes while the lock is ours; a file that was there already is not ours.
    if (!(error instanceof TargetExistsError)) rmSync(path, { force: true });
    lock.release();
    throw error;
  }
}
