/**
 * What `backup --resume` may continue from, and why not when it may not. A backup interrupted by a
 * clean stop (cancel, a failure) recorded the source's mtime at that instant: the source must be
 * exactly as it was then. One interrupted by a crash has only its durable bitmap (durable-bitmap.ts),
 * which was stamped before every host write the session acknowledged: a source modified later
 * than that stamp (plus the length of one host write) was written by someone who bypassed the
 * session, and the point in time is lost. A backup with no slot left PENDING reads nothing from
 * the source, so then neither check applies.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { SessionError } from '../../errors/snaptape-error.js';
import { TrackStateArray, UNIT_STATE, type UnitState } from '../../engine/track-state.js';
import type { Volume } from '../../volume/volume.js';
import { loadLayout, type StoredLayout } from './backup-layout-store.js';
import { PERSISTED_SPOOLED } from './durable-bitmap.js';
import { bitmapPath, readSessionBitmap, readSessionRecord, type SessionRecord } from './session-record.js';

/**
 * How much later than the bitmap's stamp the source may have been modified after a crash: the
 * stamp's interval (durable-bitmap.ts, 50 ms) plus the length of one host write, with room to spare.
 */
export const CRASH_MTIME_SLACK_MS = 250;

export interface ResumePoint {
  readonly record: SessionRecord;
  readonly stored: StoredLayout;
  readonly states: TrackStateArray;
  /** Slots whose start-instant bytes are in the spool, not yet on the tape. */
  readonly spooled: readonly number[];
  /** The spool to reopen (the record's, or the one given now). */
  readonly spoolPath: string | undefined;
}

export function loadResumePoint(volume: Volume, tape: string, spoolOption: string | undefined): ResumePoint {
  const record = readSessionRecord(tape);
  const refuse = (why: string): never => {
    throw new SessionError(`Cannot resume the backup to ${tape}: ${why}`, { tape });
  };
  if (!record) return refuse(`no session record (${tape}.session.json)`);
  if (record.status === 'completed') refuse('it is complete');
  if (resolve(record.sourcePath) !== resolve(volume.path)) refuse(`it was a backup of ${record.sourcePath}, not ${volume.path}`);
  if (record.resumable === false) refuse(`${record.reason ?? 'a host write went ahead without its copy'}, so its point in time is lost; start a new backup`);
  const stored = loadLayout(tape, volume.geometry);
  const bitmap = readSessionBitmap(tape, stored.set.slots.lengths.length);
  if (!bitmap) return refuse('its bitmap is missing or of the wrong size');
  // Only slots still PENDING are read from the source: with none left, its later writes do not matter.
  const readsSource = bitmap.some((state) => state === UNIT_STATE.PENDING || state === UNIT_STATE.CLAIMED);
  if (readsSource) checkSourceUnchanged(volume, tape, record, refuse);
  const states = TrackStateArray.create(bitmap.length);
  const spooled: number[] = [];
  bitmap.forEach((state, slot) => {
    if (state === PERSISTED_SPOOLED) spooled.push(slot);
    states.restore(slot, state === PERSISTED_SPOOLED ? UNIT_STATE.PENDING : (state as UnitState));
  });
  const spoolPath = spoolOption ?? record.spoolPath;
  if (spooled.length > 0 && spoolPath === undefined) refuse(`${spooled.length} slots are in a spool the record does not name`);
  return { record, stored, states, spooled, spoolPath };
}

/** A resume that reads the source needs it as the session left it (the header says how that is told). */
function checkSourceUnchanged(volume: Volume, tape: string, record: SessionRecord, refuse: (why: string) => never): void {
  const source = statSync(volume.path, { bigint: true });
  if (record.status === 'running' || record.status === 'paused') {
    // A crash: the bitmap (read above, so it exists) was stamped before every acknowledged host write.
    const stampMs = statSync(bitmapPath(tape)).mtimeMs;
    const modifiedMs = Number(source.mtimeNs / 1_000_000n);
    if (modifiedMs > stampMs + CRASH_MTIME_SLACK_MS) {
      refuse(
        `${volume.path} was written after the backup stopped (it was modified ${Math.round(modifiedMs - stampMs)} ms after the session's last stamp), so its point in time is lost; start a new backup`,
      );
    }
  } else if (String(source.mtimeNs) !== record.sourceMtimeNs) {
    refuse(`${volume.path} was written after the backup stopped, so its point in time is lost; start a new backup`);
  }
}
