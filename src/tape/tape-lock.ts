/**
 * A tape file being written is owned like an image (src/image/image-lock.ts): its writer holds
 * `<tape>.lock` from before it touches the tape (or anything named after it: session record,
 * layout, bitmap) until the tape is finished, so a second writer is refused with LOCKED before it
 * can truncate or overwrite the first one's work. A reader of a tape whose lock is held by another
 * live process is refused too: that tape is incomplete (its labels are written last), and reading
 * it would only report a broken block somewhere in the middle.
 *
 * A tape stored in a region of an FBA volume is covered by that volume's own image lock instead.
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { requireSameFile } from '../base/file-io.js';
import { LockedError } from '../errors/snaptape-error.js';
import { fileHolderElsewhere, liveLockOwner, lockImage, type ImageLock } from '../image/image-lock.js';
import { checkCartridgeWritable } from '../library/cartridge-guard.js';

/**
 * Takes the write lock of the tape file at `path`, or throws LockedError (exit status 10): held
 * under this name (`<tape>.lock`) and, when the file exists, on its inode (`ImageLock.holdFile`), so
 * that a tape being written is refused by any of its names, hard links included. This is
 * the one door every tape writer goes through, so it is where a tape library's rules are asked
 * (library/cartridge-guard.ts): a cartridge that is WORM, retained, or not mounted is refused with
 * nothing of it touched. They are asked under the lock, so that the answer holds while it is held.
 */
export function lockTape(path: string): ImageLock {
  const lock = lockImage(path, `write tape ${path}`);
  try {
    checkLinkedFileNotHeld(path);
    // Every name of the file (hard links), not only this one: a writer that creates the tape holds it once made.
    lock.holdFile();
    checkCartridgeWritable(path, `write tape ${path}`);
  } catch (error) {
    lock.release();
    throw error;
  }
  return lock;
}

/**
 * A tape path that is a symbolic link has its lock under its own name, not under the name of the
 * file it leads to: a writer holding that file (a volume served, a tape being written) is asked
 * here, so that a link is no way around its lock; a dangling link too, whose file a writer holding
 * its lock has not made yet. (A link in a folder above leads to the same lock file, and is no concern.)
 */
function checkLinkedFileNotHeld(path: string): void {
  let real: string | undefined;
  let named: string;
  try {
    named = join(realpathSync(dirname(resolve(path))), basename(path));
  } catch {
    return; // No folder there: nothing to write into.
  }
  try {
    real = realpathSync(path);
  } catch {
    // Nothing there yet, or a dangling link: the file it names may be one a writer holds locked
    // and has not made yet (a write through the link would make it, under that writer).
    real = danglingLinkTarget(path);
    if (real === undefined) return;
  }
  if (real === named) return;
  const owner = liveLockOwner(real);
  if (owner === undefined) return;
  throw new LockedError(
    `Cannot write tape ${path}: it is a link to ${real}, which is locked by process ${owner.pid}${owner.host ? ` on ${owner.host}` : ''} (${real}.lock)`,
    { path, lockPath: `${real}.lock`, pid: owner.pid },
  );
}

/**
 * Where the symbolic link at `path` leads when that file does not exist (yet): the path, in its real
 * folder, the last link names (links followed up to 40 deep, as the kernel does); undefined when
 * `path` is no symbolic link, or its last target's folder does not exist either.
 */
function danglingLinkTarget(path: string): string | undefined {
  let at = resolve(path);
  // Bounded: 40 links, as ELOOP.
  for (let depth = 0; depth < 40; depth++) {
    let target: string;
    try {
      if (!lstatSync(at).isSymbolicLink()) return undefined;
      target = readlinkSync(at);
    } catch {
      return depth === 0 ? undefined : realFolderOf(at);
    }
    at = resolve(dirname(at), target);
  }
  return undefined;
}

/** `path` with its folder's real path; undefined when the folder does not exist. */
function realFolderOf(path: string): string | undefined {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return undefined;
  }
}

/**
 * Refuses (IoError naming it) a tape opened for writing as `fd` that is not the file `lock` checked
 * (and holds, where it can): whoever can write the folder may put a link or another file at its name between the
 * check and the open, which a write by the name would then reach. A tape that was not there at the
 * check was made new (O_EXCL, `mustCreate`): it is held now, and must be the file made.
 */
export function requireCheckedTape(lock: ImageLock, fd: number, path: string): void {
  // Made new (none was there at the check): held now, by its name, which must still give this file.
  if (lock.checkedFile() === undefined) lock.holdFile();
  requireSameFile(fd, lock.checkedFile() ?? { dev: -1, ino: -1 }, path, 'tape', 'its lock checked');
}

/** Whether the writer under `lock` must make the tape new (O_EXCL): there was none to check and hold when the lock was taken. */
export function mustCreate(lock: ImageLock): boolean {
  return lock.checkedFile() === undefined;
}

/** Runs `write` holding the tape's lock (given to it, for requireCheckedTape), released afterwards whether it succeeded or not. */
export function withTapeLock<T>(path: string, write: (lock: ImageLock) => T): T {
  const lock = lockTape(path);
  try {
    return write(lock);
  } finally {
    lock.release();
  }
}

/**
 * Refuses to read a tape that another live process is writing now, under this name or another (a
 * link, or the name it had before it was renamed).
 */
export function checkTapeNotBeingWritten(path: string): void {
  const owner = liveLockOwner(path);
  if (owner === undefined) {
    const holder = fileHolderElsewhere(path);
    if (holder === undefined || holder.pid === process.pid) return;
    throw new LockedError(
      `Cannot read tape ${path}: it is being written by process ${holder.pid} under another name of the same file (device ${holder.dev}, inode ${holder.ino}) and is incomplete until that writer finishes`,
      { path, pid: holder.pid },
    );
  }
  if (owner.pid === process.pid) return;
  throw new LockedError(
    `Cannot read tape ${path}: it is being written by process ${owner.pid}${owner.host ? ` on ${owner.host}` : ''} and is incomplete until that writer finishes (${path}.lock)`,
    { path, lockPath: `${path}.lock`, pid: owner.pid },
  );
}
