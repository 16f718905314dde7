/**
 * Crash recovery for `version create` (issue 9, "A crash in the middle of version create leaves the
 * catalog consistent"). A create first commits a `creating` version row naming its pid, its COPY
 * record and the targets it newly reserved (`reserved_in_version`); it commits the RR, the storage
 * media and `complete` in one later transaction. A `creating` row whose pid is dead is therefore a
 * create that never finished: it is deleted with its COPY record and its new reservations, so the
 * version is absent and no target stays reserved for it.
 */
import { isProcessAlive } from '../image/image-lock.js';
import type { Catalog } from './catalog.js';

export interface RecoveredVersion {
  readonly version: number;
  readonly pid: number;
  readonly releasedTargets: number;
}

/** Deletes every `creating` version whose process is gone. Returns what it released. */
export function recoverStaleCreates(catalog: Catalog, isAlive: (pid: number) => boolean = isProcessAlive): RecoveredVersion[] {
  return catalog.write((db) => {
    const stale = (db.prepare("SELECT version, pid FROM versions WHERE state = 'creating'").all() as { version: number; pid: number }[]).filter(
      (row) => row.pid !== process.pid && !isAlive(row.pid),
    );
    return stale.map((row) => {
      const released = db.prepare('UPDATE volumes SET reserved_for = NULL, reserved_in_version = NULL WHERE reserved_in_version = ?').run(row.version);
      db.prepare("DELETE FROM records WHERE kind = 'COPY' AND version = ?").run(row.version);
      db.prepare('DELETE FROM versions WHERE version = ?').run(row.version);
      return { version: row.version, pid: row.pid, releasedTargets: released.changes };
    });
  });
}
