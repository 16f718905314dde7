/**
 * The one way a whole file (a session, clone or token record, a layout, a size table, a map) is
 * replaced so that a power failure leaves either the old file or the new one, never an empty or
 * torn one: write `<path>.tmp`, fsync it, rename it over `<path>`, fsync the directory. A link
 * (symbolic or hard) at the temp file's name is refused, never written through (file-io.ts).
 *
 * Without the first fsync a file system may commit the rename before the data (the new name then
 * points at an empty file); without the second the rename itself may be lost. A record that says
 * data is complete is written this way only after that data was fsynced (`fsyncDirectory` also
 * makes a newly created data file's name durable).
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { openRegularFile, openSideFileForReplace } from '../base/file-io.js';
import { dirname, resolve } from 'node:path';
import { translateIoError } from '../errors/io-error.js';

const TEMP_FILE = 'the temp file of a durable replacement';

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
    // A link at the temp file's name is refused, not written through (file-io.ts SideFileOpen).
    fd = openRegularFile(temp, TEMP_FILE, true, { noFollow: true, replace: true }).fd;
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

/** The last off-thread replacement of each path (absolute) in flight, settled either way: the next one waits for it. */
const inFlight = new Map<string, Promise<void>>();

/**
 * `durableReplace` for a thread that must not block (the owning thread of a volume, where host
 * writes wait): the temp file's write and fsync and the directory's fsync run on libuv's pool, so
 * that a flush of the disk's cache (hundreds of ms behind a copy's writeback) holds no host write.
 * The rename runs on the calling thread, after `stillWanted()` says yes: so the replacements of one
 * path land in the order the caller decides them, whichever way each was written, and a replacement
 * overtaken by a newer one is dropped (its temp file removed; false). The temp file is
 * `<path>.async.tmp`, never the synchronous one's, so that neither writes into the other's.
 *
 * The replacements of one path in this process run one after the other (`inFlight`): they share
 * that temp file, which one would empty, or remove, under the other (two backups of one tracked
 * volume that finish together both write its tracking state). Another process never writes the same
 * path meanwhile: each of these records is written only under the lock of its image or its tape.
 */
export function durableReplaceOffThread(path: string, data: string | Uint8Array, action: string, stillWanted: () => boolean): Promise<boolean> {
  const key = resolve(path);
  const before = inFlight.get(key);
  // None in flight (the usual case): it starts at once, as it did before there was a queue.
  const run = before === undefined ? replaceOffThread(path, data, action, stillWanted) : before.then(() => replaceOffThread(path, data, action, stillWanted));
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  inFlight.set(key, settled);
  // Bounded: the entry goes with the last replacement of its path, so the map holds the paths in flight only.
  void settled.then(() => {
    if (inFlight.get(key) === settled) inFlight.delete(key);
  });
  return run;
}

async function replaceOffThread(path: string, data: string | Uint8Array, action: string, stillWanted: () => boolean): Promise<boolean> {
  const temp = offThreadTempPath(path);
  try {
    const handle = await openSideFileForReplace(temp, TEMP_FILE);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!stillWanted()) {
      await rm(temp, { force: true });
      return false;
    }
    renameSync(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw translateIoError(error, action, path);
  }
  try {
    const folder = await open(dirname(path), 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  } catch (error) {
    throw translateIoError(error, action, path);
  }
  return true;
}

/** The temp file of `durableReplaceOffThread`: a process killed while one was written leaves it. */
export function offThreadTempPath(path: string): string {
  return `${path}.async.tmp`;
}
