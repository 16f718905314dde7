/**
 * Opens a CCKD volume: its base file (`CKD_C370`) and, optionally, shadow files (`CKD_S370`) on
 * top, oldest first. Each file is checked on a read-only descriptor before any is opened for
 * writing; writes go to the newest file, and the files below it are opened read-only. A writable
 * open locks every file of the stack, so no other snaptape process writes the base under a shadow.
 */
import { ImageFormatError } from '../errors/snaptape-error.js';
import { CckdBackend } from './cckd-backend.js';
import { CckdFile } from './cckd-file.js';
import { lockImage, type ImageLock } from './image-lock.js';

export interface CckdOpenOptions {
  readonly readOnly?: boolean;
  /** Shadow files over the base, oldest first; writes go to the last. */
  readonly shadows?: readonly string[];
}

export function openCckdImage(basePath: string, options: CckdOpenOptions = {}): CckdBackend {
  const readOnly = options.readOnly ?? false;
  const paths = [basePath, ...(options.shadows ?? [])];
  const locks: ImageLock[] = [];
  const files: CckdFile[] = [];
  try {
    if (!readOnly) for (const path of paths) locks.push(lockImage(path));
    paths.forEach((path, i) => {
      const top = i === paths.length - 1;
      const file = CckdFile.open(path, { readOnly: readOnly || !top });
      files.push(file);
      const base = files[0] as CckdFile;
      if (i === 0 && file.shadow)
        throw new ImageFormatError(`Cannot open ${path}: it is a CCKD shadow file (CKD_S370); open its base file with it as a shadow`, { path, offset: 0 });
      if (i > 0 && !file.shadow)
        throw new ImageFormatError(`Cannot open ${path} as a shadow of ${basePath}: its header says CKD_C370, a base file`, { path, offset: 0 });
      const g = file.geometry;
      if (g.family !== base.geometry.family || g.cylinders !== base.geometry.cylinders) {
        throw new ImageFormatError(
          `Cannot open ${path} as a shadow of ${basePath}: it is a ${g.family.family} of ${g.cylinders} cylinders, the base a ${base.geometry.family.family} of ${base.geometry.cylinders}`,
          { path, offset: 0 },
        );
      }
    });
  } catch (error) {
    for (const file of files) file.close();
    for (const lock of locks) lock.release();
    throw error;
  }
  return new CckdBackend(files, { readOnly, locks });
}
