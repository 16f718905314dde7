/**
 * The one way a whole file (a session, clone or token record, a layout, a size table, a map) is
 * replaced so that a power failure leaves either the old file or the new one, never an empty or
 * torn one: write `<path>.tmp`, fsync it, rename it over `<path>`, fsync the directory.
 *
 * Without the first fsync a file system may commit the rename before the data (the new name then
 * points at an empty file); without the second the rename itself may be lost. A record that says
 * data is complete is written this way only after that data was fsynced (`fsyncDirectory` also
 * makes a newly created data file's name durable).
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { translateIoError } from '../errors/io-error.js';

/** Fsyncs a directory, so that the names created, renamed or removed in it survive a power loss. */
export function fsyncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (error) {
    throw translateIoError(error, `open the folder ${dir} to flush it`, dir);
  }
  try {
    fsyncSync(fd);
  } catch (error) {
    throw translateIoError(error, `flush the folder ${dir}`, dir);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `path` with `data` durably (temp file, fsync, rename, fsync of the directory). `action`
 * says what is being done, for the typed error ("persist the clone session").
 */
export function durableReplace(path: string, data: string | Uint8Array, action: string): void {
  const temp = `${path}.tmp`;
  let fd = -1;
  try {
    fd = openSync(temp, 'w');
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(temp, path);
  } catch (error) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      /* nothing was left */
    }
    throw translateIoError(error, action, path);
  }
  try {
    fsyncDirectory(dirname(path));
  } catch (error) {
    throw translateIoError(error, action, path);
  }
}
