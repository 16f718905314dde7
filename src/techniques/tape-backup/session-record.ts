/**
 * The persisted state of a backup session, beside the tape: `<tape>.session.json` (status, the
 * source, the layout inputs, the outcome) and `<tape>.session.bitmap` (one Int32 state per slot,
 * kept in place by durable-bitmap.ts). The record is written durably (durable-replace.ts) at
 * start, at checkpoints, and at the end, so that an interrupted backup is always found and reported
 * as incomplete, never as complete.
 */
import { closeSync, existsSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { translateIoError } from '../../errors/io-error.js';
import { openRegularFile, readFully, readRegularFileText } from '../../base/file-io.js';
import { durableReplace, durableReplaceOffThread, offThreadTempPath } from '../../image/durable-replace.js';
import { layoutPath } from './backup-layout-store.js';

export type RecordStatus = 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

export interface SessionRecord {
  readonly kind: 'tape-backup';
  readonly status: RecordStatus;
  readonly tapePath: string;
  readonly sourcePath: string;
  /** Source image mtime (ns) at the last checkpoint: a resume needs the source unchanged since. */
  readonly sourceMtimeNs: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly elements: readonly { readonly name: string; readonly slots: number }[];
  readonly slotCount: number;
  readonly reason?: string;
  /** False once a host write went ahead without its copy (break-backup): no resume can keep the point in time. */
  readonly resumable?: boolean;
  /** The spool of a backup to a slow target (backup-spool.ts), needed by a resume. */
  readonly spoolPath?: string;
  readonly summary?: unknown;
}

/** Where a session's record, bitmap and layout are kept: beside the tape file, or per start block of a tape on an FBA volume. */
export function sessionRecordKey(options: { readonly tapePath: string; readonly tapeStartBlock?: number | undefined }): string {
  return options.tapeStartBlock === undefined ? options.tapePath : `${options.tapePath}@block${options.tapeStartBlock}`;
}

export function recordPath(tapePath: string): string {
  return `${tapePath}.session.json`;
}

export function bitmapPath(tapePath: string): string {
  return `${tapePath}.session.bitmap`;
}

/** Writes the record (the bitmap is the session's DurableSlotBitmap, written before it). */
export function writeSessionRecord(record: SessionRecord): void {
  durableReplace(recordPath(record.tapePath), `${JSON.stringify(record, null, 2)}\n`, 'persist the session');
  // A completed backup needs no checkpoint to resume from: only its record stays.
  if (record.status === 'completed') {
    rmSync(bitmapPath(record.tapePath), { force: true });
    rmSync(layoutPath(record.tapePath), { force: true });
  }
}

/**
 * A record written as `writeSessionRecord` writes one but with its fsyncs off this thread
 * (durable-replace.ts), for the owning thread of a volume: a checkpoint during the copy (running or
 * paused), and the completed record at the finish. It lands only if `stillWanted()` still says so
 * when it is written, so that a record decided since (a stop, the completion) is never replaced by
 * an older one. False when dropped. A completed record that landed is durable before the bitmap
 * and the layout are removed (off this thread too), as with `writeSessionRecord`.
 */
export async function writeRecordOffThread(record: SessionRecord, stillWanted: () => boolean): Promise<boolean> {
  const landed = await durableReplaceOffThread(recordPath(record.tapePath), `${JSON.stringify(record, null, 2)}\n`, 'persist the session', stillWanted);
  if (landed && record.status === 'completed') {
    for (const path of [bitmapPath(record.tapePath), layoutPath(record.tapePath)]) {
      await rm(path, { force: true }).catch((error: unknown) => {
        throw translateIoError(error, 'remove the checkpoint files of a completed backup', path);
      });
    }
  }
  return landed;
}

/**
 * Removes the record an earlier backup to the same tape left (it was interrupted; its tape has just
 * been replaced). A new backup's own record lands after its start instant: until then a crash
 * leaves no record to resume from, never the old one over the new tape and bitmap.
 */
export function removeSessionRecord(tapePath: string): void {
  try {
    rmSync(recordPath(tapePath), { force: true });
  } catch (error) {
    throw translateIoError(error, 'remove the earlier session record', recordPath(tapePath));
  }
}

/**
 * Removes the temp file of a checkpoint whose process was killed while it was written (its record
 * never landed). Called under the tape's lock, where no checkpoint of the tape is in flight.
 */
export function removeCheckpointLeftover(tapePath: string): void {
  const temp = offThreadTempPath(recordPath(tapePath));
  try {
    rmSync(temp, { force: true });
  } catch (error) {
    throw translateIoError(error, 'remove a checkpoint left by a killed process', temp);
  }
}

export function readSessionRecord(tapePath: string): SessionRecord | undefined {
  const path = recordPath(tapePath);
  if (!existsSync(path)) return undefined;
  const text = readRegularFileText(path, 'the session record');
  try {
    return JSON.parse(text) as SessionRecord;
  } catch (error) {
    throw translateIoError(error, 'read the session record', path);
  }
}

/**
 * The bitmap of `slotCount` slots, or undefined when it is missing or of another size (told from
 * its size, unread). Anything but a regular file is an IoError naming it.
 */
export function readSessionBitmap(tapePath: string, slotCount: number): Int32Array | undefined {
  const path = bitmapPath(tapePath);
  if (!existsSync(path)) return undefined;
  const { fd, sizeBytes } = openRegularFile(path, 'the session bitmap');
  try {
    if (sizeBytes !== slotCount * 4) return undefined;
    const states = new Int32Array(slotCount);
    readFully(fd, new Uint8Array(states.buffer), 0, path, 'the session bitmap');
    return states;
  } finally {
    closeSync(fd);
  }
}
