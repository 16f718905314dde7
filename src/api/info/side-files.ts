/**
 * The files snaptape keeps beside an image or a tape (`<path>.<suffix>`), and what each is. They
 * are found by their names, in the folder of the path; each is described, never opened for writing.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { lockOwnerOf, liveLockOwner } from '../../image/image-lock.js';
import { readSessionRecord } from '../../techniques/tape-backup/session-record.js';
import { readCloneRecord } from '../../techniques/clone/clone-record.js';
import { DEFAULT_NBD_SOCKET_SUFFIX } from '../../server/listen-address.js';

export interface SideFile {
  readonly path: string;
  /** The suffix after the path, e.g. `.sizes`, or `spool` for a backup's spool file. */
  readonly kind: string;
  /** What the file is, in a few words, and its state where it has one. */
  readonly what: string;
  readonly bytes: number;
}

/** A checkpoint a session left beside the path: a backup that can be resumed, or a clone. */
export interface Checkpoint {
  readonly kind: 'tape-backup' | 'clone';
  readonly status: string;
  readonly resumable: boolean;
  readonly updatedAt: string;
  readonly reason: string | null;
}

/** Each suffix snaptape writes, longest first so that `.lock.guard` is not taken for `.lock`. */
const SUFFIXES: readonly (readonly [string, string])[] = [
  ['.tracking.json', 'change-tracking state: the current era, the named checkpoints, the holder (snaptape track)'],
  ['.tracking', 'change-tracking map: the era in which each track or block was last written'],
  ['.session.layout.json', 'backup layout: where each element lies on the tape (for a resume)'],
  ['.session.bitmap', 'backup checkpoint: which units are on the tape already (for a resume)'],
  ['.session.json', 'backup session record: status, source, options (for a resume)'],
  ['.clone.bitmap', 'clone checkpoint: which tracks are on the target already'],
  ['.clone.json', 'clone session record: phase, source, tracks left'],
  ['.map.json', 'track map of the finished backup (snaptape map draws it)'],
  ['.lock.guard', 'guard file of the lock (kept; empty)'],
  ['.lock', 'lock of the image'],
  ['.sizes', 'track size table: the length of each written track, so that opening needs no scan'],
  ['.mirror', 'mirror state: the secondaries and their invalid-track bitmaps'],
  [
    '.secondary-split',
    "split of a mirror secondary by its own server for a backup: its export refuses the mirror's writes until mirror rejoin --from-secondary",
  ],
  [DEFAULT_NBD_SOCKET_SUFFIX, 'NBD socket of a running snaptape serve'],
  ['.converting', 'leftover of an interrupted convert (safe to delete)'],
  ['.merging', 'leftover of an interrupted shadow merge (safe to delete)'],
  ['.tmp', 'leftover of an interrupted atomic write (safe to delete)'],
];

function lockState(path: string): string {
  const owner = lockOwnerOf(path);
  if (!owner) return 'unreadable';
  return `${liveLockOwner(path) ? 'held' : 'stale'}: pid ${owner.pid} on ${owner.host}`;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** The side files of `path` that exist now, and its spool when a backup record names one. */
export function findSideFiles(path: string): SideFile[] {
  const dir = dirname(path);
  const name = basename(path);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const found: SideFile[] = [];
  for (const entry of entries.filter((e) => e.startsWith(`${name}.`)).sort()) {
    const suffix = entry.slice(name.length);
    const known = SUFFIXES.find(([s]) => suffix === s);
    if (!known) continue;
    const what = known[0] === '.lock' ? `${known[1]} (${lockState(path)})` : known[1];
    found.push({ path: join(dir, entry), kind: known[0], what, bytes: sizeOf(join(dir, entry)) });
  }
  const spool = readSessionRecord(path)?.spoolPath;
  if (spool !== undefined && found.every((f) => f.path !== spool)) {
    found.push({ path: spool, kind: 'spool', what: 'copy-before-write spool of the backup (moved to the tape by its drain)', bytes: sizeOf(spool) });
  }
  return found;
}

/** The session checkpoints beside `path`: its backup record (a tape) and its clone record (a target). */
export function findCheckpoints(path: string): Checkpoint[] {
  const out: Checkpoint[] = [];
  const backup = readSessionRecord(path);
  if (backup) {
    const resumable = backup.status !== 'completed' && backup.resumable !== false;
    out.push({ kind: 'tape-backup', status: backup.status, resumable, updatedAt: backup.updatedAt, reason: backup.reason ?? null });
  }
  const clone = readCloneRecord(path);
  if (clone) out.push({ kind: 'clone', status: clone.phase, resumable: !clone.complete, updatedAt: clone.updatedAt, reason: clone.reason ?? null });
  return out;
}
