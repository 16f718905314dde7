/**
 * Listening on a unix socket whose file is the credential: only the owner (mode 0600), or the
 * owner and one group (0660), may connect. Both the control API and the NBD server listen this way.
 *
 * Invariants:
 * - the socket is bound under a umask of 0177, so it is 0600 from birth; a group is given access
 *   only after its ownership is changed, so no moment exists where other accounts may connect;
 * - a file at the path that is not a socket (a regular file, a symlink, a directory) is never
 *   removed or followed: listening is refused;
 * - a socket file is removed only when no server answers on it (a stale one).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { UsageError } from '../errors/snaptape-error.js';

/** Owner-only access: the socket is the credential. */
export const OWNER_SOCKET_MODE = 0o600;
/** Owner and one chosen group. */
export const GROUP_SOCKET_MODE = 0o660;
/** Makes a socket born inside listen() mode 0600. */
const OWNER_ONLY_UMASK = 0o177;

/**
 * The numeric id of a group given by name or number. Node has no getgrnam, so the name is looked
 * up through `getent group`, which asks the system's name service (files, LDAP, ...).
 */
export function groupIdOf(group: string): number {
  if (/^\d{1,10}$/.test(group)) return Number(group);
  let line = '';
  try {
    line = execFileSync('getent', ['group', group], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
  } catch {
    throw new UsageError(`Cannot use group ${group} for the socket: no such group`, { group });
  }
  const gid = Number(line.split(':')[2]);
  if (!Number.isInteger(gid) || gid < 0) throw new UsageError(`Cannot use group ${group} for the socket: getent gave no group id`, { group });
  return gid;
}

/** Removes a socket file no server answers on; refuses a live one or a file that is not a socket. */
export async function clearStaleSocket(path: string): Promise<void> {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return;
  if (!stat.isSocket()) throw new UsageError(`Cannot listen on ${path}: a file that is not a socket is there`, { path });
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new UsageError(`Cannot listen on ${path}: another server answers on it`, { path });
  unlinkSync(path);
}

/**
 * Clears a stale socket, binds `server` to `path` owner-only, and then, if `groupId` is given,
 * hands the socket to that group with mode 0660. Resolves when listening; rejects with the
 * listener's error (the caller words it).
 */
export async function listenOnUnixSocket(server: Server, path: string, groupId?: number): Promise<void> {
  await clearStaleSocket(path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The bind happens inside listen(): the tight umask makes the socket 0600 from birth.
    const previous = process.umask(OWNER_ONLY_UMASK);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
  chmodSync(path, OWNER_SOCKET_MODE);
  if (groupId !== undefined) {
    chownSync(path, -1, groupId);
    chmodSync(path, GROUP_SOCKET_MODE);
  }
}

/** Removes the socket file at `path` if it is still a socket (close() may have removed it). */
export function removeSocketFile(path: string): void {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (stat === undefined || !stat.isSocket()) return;
  try {
    unlinkSync(path);
  } catch {
    /* removed already by the listener's close */
  }
}
