/**
 * Ownership of an image: a process that opens a volume for writing holds an exclusive lock on it,
 * a `<image>.lock` file that names the owner's pid, host and process start time. A lock whose
 * process is no longer alive is stale and is taken over. Read-only opens take no lock.
 *
 * The lock appears whole or not at all: its text is written to a temporary file first and then
 * hard-linked to `<image>.lock` (link(2) fails if the lock exists), so a process killed while
 * taking the lock never leaves an empty one behind that nobody could take over. The start time
 * tells a live owner from an unrelated process that got the dead owner's pid later. A lock without
 * a readable owner (written by an older snaptape, or by hand) is stale once it is
 * UNOWNED_STALE_MS old. The text ends with a token of this lock alone, so that `release()` can tell
 * its own lock from any other.
 *
 * Decision: the lock stays a file that a person can read (`cat image.lock` says who holds it), and
 * its removal is made exclusive with flock(2) (from `fs-ext`) on a guard file beside it,
 * `<image>.lock.guard`, which is never deleted. Reading a stale lock and then unlinking it is a
 * race: between the two, another process may have taken it over and put its own live lock there,
 * which the unlink would delete, leaving two owners. So a takeover reads the lock, judges it and
 * unlinks it all while holding the guard; a second contender waits for the guard, reads the
 * winner's live lock and is refused. The rest needs no guard, because the invariant is: a lock
 * whose owner is alive is deleted by nobody but its owner.
 * - Creating a lock where there is none is one link(2), atomic by itself: it can only succeed
 *   while no lock file exists, and a lock file that exists is only ever removed under the guard.
 *   The guard would add nothing, and would leave a guard file beside every image ever written.
 * - `release()` deletes the lock only when its text is its own. Between that read and the unlink
 *   nobody else can remove our lock (we are alive, so no takeover judges it stale) and nobody can
 *   create one (it exists), so the file we unlink is the one we read.
 * flock is released by the kernel when its holder dies, so a contender killed inside a takeover
 * never blocks the others. The guard is held only for a read, a stat, a look in /proc and a link.
 */
import { closeSync, constants, fstatSync, linkSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type FsExt from 'fs-ext';
import { IoError, LockedError } from '../errors/snaptape-error.js';
import { openRegularFile, readRegularFileText, writeFully, type FileIdentity } from '../base/file-io.js';
import { lazyPackage } from '../base/lazy-package.js';
import { translateIoError } from '../errors/io-error.js';

export interface ImageLock {
  readonly lockPath: string;
  /**
   * Makes the lock follow the file's inode too, not only its name: see `holdFile` below. A no-op
   * when there is no regular file at the path (yet) or it is held already; throws LockedError when
   * another lock holds the file by another of its names.
   */
  holdFile(): void;
  /**
   * The file `holdFile` found at the name, links followed (its device and inode), whether it holds it
   * or not (a FIFO, a file only other users' flocks are on); undefined when nothing was there (a
   * dangling link included), or before `holdFile`. A writer that opens the file by name later
   * writes it only if it is this one (tape-lock.ts requireCheckedTape).
   */
  checkedFile(): FileIdentity | undefined;
  release(): void;
}

/**
 * Takeovers tried before giving up. Under the guard a takeover can only lose to a plain creation
 * that slipped in after its unlink (whose owner is then alive), so more than one retry means the
 * lock really keeps changing hands.
 */
const TAKEOVER_ATTEMPTS = 3;

/** A lock file with no readable owner is stale after this long. */
export const UNOWNED_STALE_MS = 2_000;

/** The start time of a process (clock ticks since boot, /proc/<pid>/stat field 22); '' where unknown. */
export function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

/**
 * True when a process with this pid runs (EPERM: it runs, as another user) and, when the start time
 * is known, is the same process that took the lock.
 */
export function isProcessAlive(pid: number, startTime = ''): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as { code?: string }).code !== 'EPERM') return false;
  }
  if (startTime === '') return true;
  const now = processStartTime(pid);
  return now === '' || now === startTime;
}

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly startTime: string;
}

function parseOwner(text: string): LockOwner | undefined {
  const [pidText, host, startTime] = text.split('\n');
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, host: host ?? '', startTime: startTime ?? '' } : undefined;
}

/**
 * The lock's text, or undefined when there is no lock file (any read error counts as none). A lock
 * path that is not a regular file (a FIFO, whose plain read would block forever) is a lock of no
 * known owner: ''.
 */
function readLockText(lockPath: string): string | undefined {
  try {
    return readRegularFileText(lockPath, 'the lock');
  } catch (error) {
    return error instanceof IoError && error.details['notRegularFile'] === true ? '' : undefined;
  }
}

function lockAge(lockPath: string): number {
  try {
    return Date.now() - statSync(lockPath).mtimeMs;
  } catch {
    return 0;
  }
}

/** Creates the lock with its text in one step (link): true, or false when a lock exists. */
function createWhole(lockPath: string, text: string): boolean {
  const temp = `${lockPath}.${process.pid}.tmp`;
  try {
    // Inside the try: on a full disk the temp file is created and then fails to fill; it is removed.
    // A link at its name (the pid is easy to guess) is refused, not written through (file-io.ts SideFileOpen).
    const { fd } = openRegularFile(temp, 'the temp file of a lock', true, { noFollow: true, replace: true });
    try {
      writeFully(fd, Buffer.from(text), 0, temp, 'the temp file of a lock');
    } finally {
      closeSync(fd);
    }
    linkSync(temp, lockPath);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST') return false;
    throw error;
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      /* already gone */
    }
  }
}

/** True when a lock with this text (whose file is `lockPath`) may be taken over. */
function isStale(lockPath: string, text: string): boolean {
  const owner = parseOwner(text);
  if (owner === undefined) return lockAge(lockPath) > UNOWNED_STALE_MS;
  const sameHost = owner.host === '' || owner.host === hostname();
  return sameHost && owner.pid !== process.pid && !isProcessAlive(owner.pid, owner.startTime);
}

/**
 * fs-ext, loaded on first use (a takeover, a held file) only. Loaded at import, the native addon came into every
 * copy worker thread too (this module is imported there, through the tape reader), and the process
 * crashed with SIGSEGV when such a worker ended. Takeovers and `holdFile` happen on the main thread.
 */
const fsExt = lazyPackage<typeof FsExt>('fs-ext');

function flockExclusive(fd: number): void {
  fsExt().flockSync(fd, 'ex');
}

const GUARD_FILE = 'the lock guard';

/** Runs `action` holding flock(2) on `<lock>.guard` (created if missing, never deleted). */
function underGuard<T>(lockPath: string, action: () => T): T {
  const guardPath = `${lockPath}.guard`;
  let fd: number;
  // A side file (file-io.ts SideFileOpen): opened without blocking (a FIFO in its place is refused,
  // not waited on), never through a link (a dangling one would have it made where it points). It is
  // always empty: emptying it (replace) changes nothing of its own.
  try {
    fd = openRegularFile(guardPath, GUARD_FILE, true, { noFollow: true, replace: true }).fd;
  } catch (error) {
    // A guard made by another user may be read-only to us; flock needs only an open fd.
    if (!(error instanceof IoError && error.details['errno'] === 'EACCES')) throw error;
    fd = openRegularFile(guardPath, GUARD_FILE, false, { noFollow: true }).fd;
  }
  try {
    flockExclusive(fd);
    return action();
  } finally {
    closeSync(fd); // Closing the only fd of the open file releases the flock.
  }
}

/** Who holds `<image>.lock` now (alive or not), read without taking it; undefined when there is none. */
export function lockOwnerOf(imagePath: string): { pid: number; host: string } | undefined {
  const text = readLockText(`${imagePath}.lock`);
  const owner = text === undefined ? undefined : parseOwner(text);
  return owner && { pid: owner.pid, host: owner.host };
}

/**
 * The owner of `<image>.lock` when that lock is held by a live process (this one included), read
 * without taking it; undefined when there is no lock, or only a stale one.
 */
export function liveLockOwner(imagePath: string): { pid: number; host: string } | undefined {
  const lockPath = `${imagePath}.lock`;
  const text = readLockText(lockPath);
  if (text === undefined || isStale(lockPath, text)) return undefined;
  const owner = parseOwner(text);
  return owner && { pid: owner.pid, host: owner.host };
}

/**
 * A lock file is named after one name of its file, and a file may have others (hard links), where
 * no lock file is. A lock that holds its file (`holdFile`, taken by every tape writer) also holds
 * flock(2) on the file itself, through a descriptor kept open until release: the kernel keys that
 * on device and inode, so a second lock holding the file by any of its names is refused. The
 * `<file>.lock` stays what says who holds the file (and what readers and takeovers look at); the
 * flock only carries the same lock over to the file's other names, and the kernel drops it when its
 * holder dies, so it is never stale.
 */
function holdFileOf(imagePath: string, lockPath: string, action: string): { readonly fd?: number; readonly identity?: FileIdentity } {
  let fd: number;
  try {
    // Read-only and non-blocking: a FIFO or a device is opened without waiting, and not held.
    fd = openSync(imagePath, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    // Nothing there yet (its writer holds it once it has made it), or not ours to read (then what it
    // is, by its name; nothing known of a name that cannot be looked at either, a loop of links).
    return { identity: identityByName(imagePath) };
  }
  try {
    const stat = fstatSync(fd, { bigint: true });
    const identity = { dev: Number(stat.dev), ino: Number(stat.ino) };
    if (!stat.isFile()) {
      closeSync(fd);
      return { identity };
    }
    try {
      fsExt().flockSync(fd, 'exnb');
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') {
        closeSync(fd);
        return { identity }; // A file system without flock (ENOLCK, EINVAL): the file is held by its name only.
      }
      const holders = flockHolders(stat.dev, stat.ino);
      const holder = holders.find((h) => countsAsHolder(h.pid, stat.uid));
      if (holder === undefined && holders.length > 0) {
        // Only other users' locks (neither root's, ours nor the owner's): they keep no owner from its file.
        closeSync(fd);
        return { identity };
      }
      const pid = holder?.pid;
      const who = pid === undefined ? 'another process' : pid === process.pid ? 'this process' : `process ${pid}`;
      // What the lock table says, no more: a shared lock is no snaptape writer's (`holdFile` takes an exclusive one).
      const why =
        holder?.exclusive === false
          ? `${who} holds a shared lock (flock) on it: a reader that asked not to have it written meanwhile`
          : `${who} holds it locked (flock): a writer of it under another name (a hard link, or the name it had before a rename), or another program`;
      throw new LockedError(`Cannot ${action}: ${why} (device ${stat.dev}, inode ${stat.ino})`, { path: imagePath, lockPath, pid: pid ?? null });
    }
    return { fd, identity };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** The device and inode of what `path` names, links followed; undefined when nothing can be looked at there. */
function identityByName(path: string): FileIdentity | undefined {
  try {
    const stat = statSync(path, { throwIfNoEntry: false });
    return stat === undefined ? undefined : { dev: stat.dev, ino: stat.ino };
  } catch {
    return undefined;
  }
}

/**
 * The process that holds the file at `path` (`holdFile`) under another of its names, read without
 * taking anything (no flock, so worker threads may ask too): a hard link, the file a symbolic link
 * leads to, or the name the file had when its lock was taken (it was renamed since: its one name
 * now has no lock file). Only an exclusive flock counts, as `holdFile` takes, and only one held by
 * root, by this process's user or by the file's owner: any user who may read a file may flock it,
 * and one who is neither cannot make its readers believe it is being written. Undefined when none
 * holds the file, or unknown.
 */
export function fileHolderElsewhere(path: string): { pid: number; dev: bigint; ino: bigint } | undefined {
  let stat;
  try {
    stat = statSync(path, { bigint: true });
    if (!stat.isFile()) return undefined;
  } catch {
    return undefined;
  }
  const holder = flockHolders(stat.dev, stat.ino).find((h) => h.exclusive && countsAsHolder(h.pid, stat.uid));
  return holder === undefined ? undefined : { pid: holder.pid, dev: stat.dev, ino: stat.ino };
}

/**
 * Whether a flock held by process `pid` on a file owned by `fileUid` is one a snaptape writer may
 * hold: root's, this process's user's or the file's owner's. Any user who may read a file may
 * flock it; one who is neither can neither keep the owner from writing it nor its readers from
 * reading it. A holder whose user cannot be read (a /proc that hides others' processes) counts.
 */
function countsAsHolder(pid: number, fileUid: bigint): boolean {
  const uid = processUid(pid);
  return uid === undefined || uid === 0n || uid === BigInt(process.getuid?.() ?? -1) || uid === fileUid;
}

/** The real user id of a process (/proc/<pid>/status), or undefined where it cannot be read. */
function processUid(pid: number): bigint | undefined {
  try {
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return uid === undefined ? undefined : BigInt(uid);
  } catch {
    return undefined;
  }
}

/**
 * The processes that /proc/locks names for a flock(2) on this device and inode (several for a
 * shared lock), each with whether its lock is exclusive (WRITE) or shared (READ); none where unknown.
 */
function flockHolders(dev: bigint, ino: bigint): { pid: number; exclusive: boolean }[] {
  let table: string;
  try {
    table = readFileSync('/proc/locks', 'utf8');
  } catch {
    return [];
  }
  // Linux dev_t: major in bits 8-19 and 32+, minor in bits 0-7 and 12-31 (as glibc's major()/minor()).
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const key = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
  const holders: { pid: number; exclusive: boolean }[] = [];
  for (const line of table.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 25102 fe:00:2147040 0 EOF"
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== 'FLOCK' || fields[5] !== key) continue;
    holders.push({ pid: Number(fields[4]), exclusive: fields[3] === 'WRITE' });
  }
  return holders;
}

function heldLock(imagePath: string, lockPath: string, text: string, action: string): ImageLock {
  let released = false;
  let fileFd: number | undefined;
  let checked: FileIdentity | undefined;
  return {
    lockPath,
    holdFile: () => {
      if (released || fileFd !== undefined) return;
      const found = holdFileOf(imagePath, lockPath, action);
      fileFd = found.fd;
      checked = found.identity;
    },
    checkedFile: () => checked,
    release: () => {
      if (released) return;
      released = true;
      // The file first: while the lock file is there, no other lock can hold the file by this name.
      if (fileFd !== undefined) closeSync(fileFd);
      // Only our own lock: one that was taken from us (wrongly) belongs to its new owner now.
      if (readLockText(lockPath) !== text) return;
      try {
        unlinkSync(lockPath);
      } catch {
        /* already gone: nothing to release */
      }
    },
  };
}

/**
 * Takes the write lock of `imagePath`, or throws LockedError. `action` says what the lock is for,
 * in the error message ("Cannot <action>: it is locked by …").
 */
export function lockImage(imagePath: string, action = `open ${imagePath} for writing`): ImageLock {
  const lockPath = `${imagePath}.lock`;
  const text = `${process.pid}\n${hostname()}\n${processStartTime(process.pid)}\n${randomBytes(8).toString('hex')}\n`;
  try {
    if (createWhole(lockPath, text)) return heldLock(imagePath, lockPath, text, action);
    const outcome = underGuard(lockPath, (): { held: true } | { held: false; owner: LockOwner | undefined } => {
      for (let attempt = 0; attempt < TAKEOVER_ATTEMPTS; attempt++) {
        const current = readLockText(lockPath);
        if (current !== undefined) {
          if (!isStale(lockPath, current)) return { held: false, owner: parseOwner(current) };
          try {
            unlinkSync(lockPath);
          } catch {
            /* gone: its owner released it meanwhile */
          }
        }
        if (createWhole(lockPath, text)) return { held: true };
      }
      throw new LockedError(`Cannot ${action}: its lock ${lockPath} keeps changing hands`, { path: imagePath, lockPath });
    });
    if (outcome.held) return heldLock(imagePath, lockPath, text, action);
    const owner = outcome.owner;
    const who = owner ? `process ${owner.pid}${owner.host ? ` on ${owner.host}` : ''}` : 'another process';
    throw new LockedError(`Cannot ${action}: it is locked by ${who} (${lockPath})`, { path: imagePath, lockPath, pid: owner?.pid ?? null });
  } catch (error) {
    throw translateIoError(error, `lock ${imagePath}`, lockPath);
  }
}
