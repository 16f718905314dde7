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
 * UNOWNED_STALE_MS old.
 *
 * Decision: a lock file rather than flock(2), because Node has no flock and the lock must be
 * visible to a person looking at the directory (`cat image.lock` says who holds it).
 */
import { linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { LockedError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';

export interface ImageLock {
  readonly lockPath: string;
  release(): void;
}

/** Attempts to take the lock before giving up: one retry after removing a stale lock. */
const LOCK_ATTEMPTS = 2;

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

function readOwner(lockPath: string): { pid: number; host: string; startTime: string } | undefined {
  try {
    const [pidText, host, startTime] = readFileSync(lockPath, 'utf8').split('\n');
    const pid = Number(pidText);
    return Number.isInteger(pid) && pid > 0 ? { pid, host: host ?? '', startTime: startTime ?? '' } : undefined;
  } catch {
    return undefined;
  }
}

function lockAge(lockPath: string): number {
  try {
    return Date.now() - statSync(lockPath).mtimeMs;
  } catch {
    return 0;
  }
}

/** Creates the lock with its text in one step (link), or throws EEXIST. */
function createWhole(lockPath: string): void {
  const temp = `${lockPath}.${process.pid}.tmp`;
  writeFileSync(temp, `${process.pid}\n${hostname()}\n${processStartTime(process.pid)}\n`);
  try {
    linkSync(temp, lockPath);
  } finally {
    try { unlinkSync(temp); } catch { /* already gone */ }
  }
}

/** Who holds `<image>.lock` now (alive or not), read without taking it; undefined when there is none. */
export function lockOwnerOf(imagePath: string): { pid: number; host: string } | undefined {
  return readOwner(`${imagePath}.lock`);
}

export function lockImage(imagePath: string): ImageLock {
  const lockPath = `${imagePath}.lock`;
  for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
    try {
      createWhole(lockPath);
      let released = false;
      return {
        lockPath,
        release: () => {
          if (released) return;
          released = true;
          try { unlinkSync(lockPath); } catch { /* already gone: nothing to release */ }
        },
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw translateIoError(error, `lock ${imagePath}`, lockPath);
      const owner = readOwner(lockPath);
      const sameHost = owner === undefined || owner.host === '' || owner.host === hostname();
      const stale = owner
        ? sameHost && owner.pid !== process.pid && !isProcessAlive(owner.pid, owner.startTime)
        : lockAge(lockPath) > UNOWNED_STALE_MS;
      if (stale) {
        try { unlinkSync(lockPath); } catch { /* another process took it over first */ }
        continue;
      }
      const who = owner ? `process ${owner.pid}${owner.host ? ` on ${owner.host}` : ''}` : 'another process';
      throw new LockedError(`Cannot open ${imagePath} for writing: it is locked by ${who} (${lockPath})`, { path: imagePath, lockPath, pid: owner?.pid ?? null });
    }
  }
  throw new LockedError(`Cannot open ${imagePath} for writing: its lock ${lockPath} keeps changing hands`, { path: imagePath, lockPath });
}
