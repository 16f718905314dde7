/**
 * Shadow files of a CCKD volume (Hercules cckddasd.html "Shadow files"): a `CKD_S370` file over a
 * base holds the tracks written since it was made; the base is then only read. Three operations:
 * - create: a new, empty shadow on top (every L1 entry "not here");
 * - merge: apply the newest shadow's tracks to the file below it, then delete the shadow;
 * - remove: delete the newest shadow, discarding its writes.
 *
 * Merging never writes the file below in place: it copies it to `<below>.merging`, applies the
 * shadow's tracks to the copy, syncs it, and renames it over the original (an atomic replace on
 * one file system). A crash leaves either the old file or the merged one, never a mix; only then
 * is the shadow deleted. Every file is locked for the whole operation.
 */
import { closeSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { copyFileIntoDescriptor, fileIdentity, openRegularFile, renameOwnFile, type FileIdentity } from '../base/file-io.js';
import { fsyncDirectory } from './durable-replace.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { CckdFile } from './cckd-file.js';
import { createCckdFile } from './cckd-create.js';
import type { CckdCompression } from './cckd-layouts.js';
import { lockImage, type ImageLock } from './image-lock.js';
import { openCckdImage } from './cckd-open.js';

const TEMP_FILE = 'the temp file of a shadow merge';

/** The permission bits of `path`, which a copy of it keeps (as copyFileSync's did). */
function modeOf(path: string): number {
  try {
    return statSync(path).mode & 0o7777;
  } catch (error) {
    throw translateIoError(error, `look at ${path}`, path);
  }
}

function withLocks<T>(paths: readonly string[], body: () => T): T {
  const locks: ImageLock[] = [];
  try {
    for (const path of paths) locks.push(lockImage(path));
    return body();
  } finally {
    for (const lock of locks) lock.release();
  }
}

/** Makes a new, empty shadow file over `base` and the shadows already on it. */
export function createShadow(basePath: string, existingShadows: readonly string[], shadowPath: string, options: { compression?: CckdCompression } = {}): void {
  // Opening the stack read-only checks it and gives the geometry.
  const stack = openCckdImage(basePath, { readOnly: true, shadows: existingShadows });
  const geometry = stack.geometry;
  const compression = options.compression ?? stack.files[stack.files.length - 1]?.compressionInUse ?? 'zlib';
  stack.close();
  withLocks([shadowPath], () => createCckdFile(shadowPath, geometry, { shadow: true, compression }).close());
}

/** Merges the newest shadow into the file below it, atomically, then deletes the shadow. */
export function mergeShadow(basePath: string, shadows: readonly string[]): { mergedTracks: number; into: string } {
  if (shadows.length === 0) throw new ImageFormatError(`Cannot merge a shadow of ${basePath}: no shadow file was given`, { path: basePath, offset: 0 });
  const top = shadows[shadows.length - 1] as string;
  const below = shadows.length > 1 ? (shadows[shadows.length - 2] as string) : basePath;
  // The whole stack must open (checked, read-only) before anything is touched.
  openCckdImage(basePath, { readOnly: true, shadows }).close();
  return withLocks([basePath, ...shadows], () => {
    const temporary = `${below}.merging`;
    // What a merge that stopped left is ours to replace (under the locks), and so is a link in its
    // place: removed, never followed (existsSync says a dangling link is no file). The temp file is
    // then made new (O_EXCL: a link put there since is refused) and held by its descriptor until it
    // is renamed: the copy, the merge and the sync all go through it, never by its name, which
    // whoever can write the folder may rename a link into meanwhile (file-io.ts renameOwnFile).
    rmSync(temporary, { force: true });
    const { fd } = openRegularFile(temporary, TEMP_FILE, true, { noFollow: true, exclusive: true, mode: modeOf(below) });
    let identity: FileIdentity;
    try {
      identity = fileIdentity(fd, temporary, TEMP_FILE);
      copyFileIntoDescriptor(below, fd, temporary, `the file below ${below}`);
    } catch (error) {
      closeSync(fd);
      rmSync(temporary, { force: true });
      throw error;
    }
    let mergedTracks = 0;
    let source: CckdFile;
    try {
      source = CckdFile.open(top, { readOnly: true });
    } catch (error) {
      closeSync(fd);
      rmSync(temporary, { force: true });
      throw error;
    }
    try {
      const target = CckdFile.openDescriptor(temporary, fd);
      try {
        for (const t of source.heldTracks()) {
          target.writeTrack(t, source.readTrack(t) as Buffer);
          mergedTracks++;
        }
        // The merged file is on disk before it replaces the one below.
        target.sync();
      } finally {
        target.close();
      }
      renameOwnFile(temporary, below, identity, TEMP_FILE);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw error;
    } finally {
      source.close();
    }
    try {
      rmSync(top);
      fsyncDirectory(dirname(resolve(below)));
    } catch (error) {
      throw translateIoError(error, `replace ${below} with the merged file`, below);
    }
    return { mergedTracks, into: below };
  });
}

/** Deletes the newest shadow file, discarding the writes it holds. */
export function removeShadow(basePath: string, shadows: readonly string[]): string {
  const top = shadows[shadows.length - 1];
  if (top === undefined) throw new ImageFormatError(`Cannot remove a shadow of ${basePath}: no shadow file was given`, { path: basePath, offset: 0 });
  openCckdImage(basePath, { readOnly: true, shadows }).close();
  withLocks([top], () => rmSync(top));
  return top;
}
