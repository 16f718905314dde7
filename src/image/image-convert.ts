/**
 * Converts a CKD volume between image formats: uncompressed `CKD_P370` (one file, or a multi-file
 * set as the source) and compressed CCKD (`CKD_C370`, none/zlib/bzip2). Every track slot is copied
 * through the backends: CKD to CKD is byte for byte; into CCKD each track is stored through its
 * end-of-track marker (what Hercules keeps). The target is written under a temporary name and
 * renamed into place only when complete, so a failed conversion leaves no half-written image.
 */
import { existsSync, rmSync } from 'node:fs';
import { renameOwnFile, type FileIdentity } from '../base/file-io.js';
import { dirname, resolve } from 'node:path';
import { fsyncDirectory } from './durable-replace.js';
import { TargetExistsError, UsageError } from '../errors/snaptape-error.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import { createImage } from './create-image.js';
import type { ImageBackend } from './image-backend.js';
import type { CckdCompression } from './cckd-layouts.js';
import { openImage } from './open-image.js';
import { assert } from '../base/assert.js';
import { TRACKS_PER_CYLINDER } from '../geometry/device-types.js';

/** Tracks converted per progress report: one cylinder. */
const PROGRESS_EVERY_TRACKS = TRACKS_PER_CYLINDER;

export interface ConvertOptions {
  readonly format: 'ckd' | 'cckd';
  readonly compression?: CckdCompression;
  readonly force?: boolean;
  readonly shadows?: readonly string[];
  readonly onProgress?: (doneTracks: number, totalTracks: number) => void;
}

export interface ConvertResult {
  readonly input: string;
  readonly output: string;
  readonly format: 'ckd' | 'cckd';
  readonly compression: CckdCompression | null;
  readonly tracks: number;
}

/** Converts a CKD volume between uncompressed (ckd) and compressed (cckd) Hercules images, through a temporary file renamed at the end. Throws TargetExistsError when `output` exists without `force`, ImageFormatError for an input that is no CKD image. */
export function convertImage(input: string, output: string, options: ConvertOptions): ConvertResult {
  if (!options.force && existsSync(output))
    throw new TargetExistsError(`Cannot convert to ${output}: the file exists (use --force to replace it)`, { path: output });
  const source = openImage(input, { readOnly: true, shadows: options.shadows });
  const temporary = `${output}.converting`;
  let target: ImageBackend | undefined;
  try {
    if (source.geometry.kind !== 'ckd')
      throw new UsageError(`Cannot convert ${input}: it is an FBA volume; only CKD volumes have a compressed form`, { path: input });
    const geometry: CkdGeometry = source.geometry;
    // What a convert that stopped left is ours to replace, and so is a link in its place: removed,
    // never followed; then a new file is made (O_EXCL), never a link's target.
    // The file made is the one renamed at the end, never another that whoever can write the folder
    // renamed into its name meanwhile (file-io.ts renameOwnFile).
    rmSync(temporary, { force: true });
    let made: FileIdentity | undefined;
    target = createImage(temporary, geometry, { format: options.format, compression: options.compression, created: (identity) => (made = identity) });
    for (let t = 0; t < geometry.trackCount; t++) {
      target.writeUnit(t, source.readUnit(t, source.slotBytes));
      if (t % PROGRESS_EVERY_TRACKS === PROGRESS_EVERY_TRACKS - 1) options.onProgress?.(t + 1, geometry.trackCount);
    }
    options.onProgress?.(geometry.trackCount, geometry.trackCount);
    target.sync();
    target.close();
    target = undefined;
    assert(made !== undefined, 'createImage says which file it made');
    renameOwnFile(temporary, output, made, 'the temp file of a convert');
    fsyncDirectory(dirname(resolve(output)));
    return {
      input,
      output,
      format: options.format,
      compression: options.format === 'cckd' ? (options.compression ?? 'zlib') : null,
      tracks: geometry.trackCount,
    };
  } catch (error) {
    target?.close();
    rmSync(temporary, { force: true });
    throw error;
  } finally {
    source.close();
  }
}
