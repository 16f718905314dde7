/**
 * A scratch copy of a volume, for runs that write into what they copy (a restore drill, a backup
 * with a synthetic load): the user's image is never written. The copy carries the source's size
 * table, so it opens as its source does, without a rescan. fs-extra makes and removes it.
 */
import type FsExtra from 'fs-extra';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { translateIoError } from '../errors/io-error.js';
import { copyWithTrackSizes } from './track-size-store.js';
import { lazyPackage } from '../base/lazy-package.js';

const fsExtra = lazyPackage<typeof FsExtra>('fs-extra');

export interface ScratchCopy {
  /** The copy of the image, in `dir`. */
  readonly path: string;
  /** The folder that holds it: the caller's, or a new one removed by `remove()`. */
  readonly dir: string;
  /** Removes the copy (and the folder, when this module made it). */
  remove(): void;
}

/** Copies `imagePath` into `dir`, or into a new folder under the system's temp dir. */
export function makeScratchCopy(imagePath: string, dir?: string): ScratchCopy {
  const fse = fsExtra();
  const ownDir = dir === undefined;
  const folder = dir ?? fse.mkdtempSync(join(tmpdir(), 'snaptape-scratch-'));
  const path = join(folder, basename(imagePath));
  const remove = (): void => {
    fse.removeSync(ownDir ? folder : path);
    fse.removeSync(`${path}.sizes`);
  };
  try {
    copyWithTrackSizes(imagePath, path, () => fse.copySync(imagePath, path, { errorOnExist: true, overwrite: false }));
  } catch (error) {
    remove();
    throw translateIoError(error, `make a scratch copy of ${imagePath}`, path);
  }
  return { path, dir: folder, remove };
}
