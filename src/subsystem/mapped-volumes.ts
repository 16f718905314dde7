/**
 * Where mapped volumes live: `<dir>/<name>` inside a subsystem folder `<dir>`, named by a short
 * rule, and recognised by their track directory's magic. Creating and opening one as a Volume is
 * volume/mapped-volume.ts (a mapped backend is a backend like any other; the Volume is built on it).
 */
import { basename, dirname, resolve } from 'node:path';
import { UsageError } from '../errors/snaptape-error.js';
import { isDirectoryFile } from './track-directory.js';

/** Volume names: no dot (pool.*, *.lock and *.sizes live beside them), at most 64 characters. */
const VOLUME_NAME = /^[A-Za-z0-9_$#@-]{1,64}$/;

export function subsystemDirOf(path: string): string {
  return dirname(resolve(path));
}

export function checkVolumeName(path: string): string {
  const name = basename(path);
  if (!VOLUME_NAME.test(name))
    throw new UsageError(`Cannot use "${name}" as a mapped volume name: letters, digits, _ $ # @ - (no dots), up to 64 characters`, { path });
  return name;
}

export function isMappedVolumePath(path: string): boolean {
  return isDirectoryFile(path);
}
