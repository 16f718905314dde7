/**
 * Ownership of an image: a process that opens a volume for writing holds an exclusive lock on it,
 * a `<image>.lock` file created with O_EXCL that names the owner's pid. A lock whose pid is no longer
 * alive is stale and is taken over. Read-only opens take no lock.
 *
 * Decision: a lock file rather than flock(2), because Node has no flock and the lock must be
 * visible to a person looking at the directory (`cat image.lock` says who holds it).
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { LockedError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';

export interface ImageLock {
  readonly lockPath: string;
  release(): void;
}

/** Attempts to take the lock before giving up: one retry after removing a stale lock. */
const LOCK_ATTEMPTS = 2;

/** True when a process with this pid runs (EPERM: it runs, as another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

function readOwner(lockPath: string): { pid: number; host: string } | undefined {
  try {
    const [pidText, host] = readFileSync(lockPath, 'utf8').split('\n');
    const pid = Number(pidText);
    return Number.isInteger(pid) && pid > 0 ? { pid, host: host ?? '' } : undefined;
  } catch {
    return undefined;
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
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, `${process.pid}\n${hostname()}\n`);
      closeSync(fd);
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
      if (owner && sameHost && owner.pid !== process.pid && !isProcessAlive(owner.pid)) {
        try { unlinkSync(lockPath); } catch { /* another process took it over first */ }
        continue;
      }
      const who = owner ? `process ${owner.pid}${owner.host ? ` on ${owner.host}` : ''}` : 'another process';
      throw new LockedError(`Cannot open ${imagePath} for writing: it is locked by ${who} (${lockPath})`, { path: imagePath, lockPath, pid: owner?.pid ?? null });
    }
  }
  throw new LockedError(`Cannot open ${imagePath} for writing: its lock ${lockPath} keeps changing hands`, { path: imagePath, lockPath });
}
