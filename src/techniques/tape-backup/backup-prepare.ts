/**
 * Everything a tape backup session needs before its interceptor registers, for a new backup (the
 * elements, the tape plan, the tape file, the durable bitmap, the spool) and for a resumed one (the
 * same, read back from the session's record, layout, bitmap and spool). Synchronous: for a new
 * backup, the instant `TapeBackupSession.start` returns is the point in time.
 */
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { TrackStateArray } from '../../engine/track-state.js';
import type { ImageLock } from '../../image/image-lock.js';
import { formatLabelDate } from '../../tape/label-date.js';
import { MappedTapeWriter } from '../../tape/mapped-tape-writer.js';
import { lockTape } from '../../tape/tape-lock.js';
import type { Volume } from '../../volume/volume.js';
import { selectBackupSet, type BackupSet } from './backup-elements.js';
import { describeSource, headerLabels, type SourceDescription } from './backup-labels.js';
import type { StoredLayout } from './backup-layout-store.js';
import { planBackupTape, type BackupLayout } from './backup-layout.js';
import { loadResumePoint } from './backup-resume.js';
import { BackupSpool } from './backup-spool.js';
import type { TapeBackupOptions } from './backup-types.js';
import { DurableSlotBitmap } from './durable-bitmap.js';
import { bitmapPath, removeCheckpointLeftover, removeSessionRecord, sessionRecordKey } from './session-record.js';
import { planBackupChain, type BackupChainPlan } from '../tracking/backup-chain.js';
import { checkOptions, checkWritable, defaultTapeVolser, openTapeTarget } from './tape-target.js';

export interface PreparedBackup {
  readonly set: BackupSet;
  readonly source: SourceDescription;
  readonly layout: BackupLayout;
  readonly states: TrackStateArray;
  readonly writer: MappedTapeWriter;
  /**
   * The lock of a tape file, held until the session settles: its labels are written after the
   * writer closes. (A tape on an FBA volume is covered by `targetVolume`'s lock.)
   */
  readonly tapeLock?: ImageLock;
  /** The FBA volume a tape is written onto, held (locked) for the session's life. */
  readonly targetVolume?: Volume;
  readonly bitmap: DurableSlotBitmap;
  readonly spool?: BackupSpool;
  /** Slots a resumed session finds in the spool (still to be drained). */
  readonly spooled?: readonly number[];
  /** The checkpoint a new backup of a tracked volume sets at its start instant, and an incremental's base. */
  readonly chain?: BackupChainPlan;
  /** A new backup's layout inputs, which the session makes durable after its start instant. */
  readonly storedLayout?: StoredLayout;
}

/**
 * The tape's lock, taken before anything of the tape is touched (the spool, the tape, the session
 * files named after it) and released if preparing fails.
 */
function withTapeLockFor<T extends object>(options: TapeBackupOptions, prepare: (tapeLock?: ImageLock) => T): T & { readonly tapeLock?: ImageLock } {
  if (options.tapeStartBlock !== undefined) return prepare();
  const tapeLock = lockTape(options.tapePath);
  try {
    return { ...prepare(tapeLock), tapeLock };
  } catch (error) {
    tapeLock.release();
    throw error;
  }
}

export function prepareNewBackup(volume: Volume, options: TapeBackupOptions): PreparedBackup {
  checkWritable(volume);
  checkOptions(volume, options);
  return withTapeLockFor(options, (tapeLock) => prepareNewUnderLock(volume, options, tapeLock));
}

function prepareNewUnderLock(volume: Volume, options: TapeBackupOptions, tapeLock: ImageLock | undefined): PreparedBackup {
  // The changed units are read now, in the synchronous stretch whose end is the start instant.
  const chain = planBackupChain(volume, options);
  const set = selectBackupSet(volume, { datasets: options.datasets, blockRanges: options.blockRanges, changedUnits: chain?.changedUnits });
  const source = describeSource(volume.geometry, set.volser);
  const tapeVolser = options.tapeVolser ?? defaultTapeVolser(set.volser);
  const creationDate = options.creationDate ?? formatLabelDate(new Date());
  const labels = set.elements.map((e, i) => headerLabels(source, e, i === 0 ? chain?.chain : undefined));
  const layout = planBackupTape(set, { tapeVolser, creationDate, headerLabels: (_, i) => labels[i] ?? [] });
  const states = TrackStateArray.create(set.slots.lengths.length);
  for (let s = 0; s < states.unitCount; s++) states.include(s);
  // The spool first: a spool that exists refuses the backup before the tape is touched.
  const spool = options.spoolPath === undefined ? undefined : BackupSpool.create(options.spoolPath, { force: options.force });
  try {
    // The tape written is the file its lock checked (or a new one made), held by its inode.
    const target = openTapeTarget(volume, options, layout.plan, tapeLock);
    try {
      // A tape this backup has just created is held by its inode too, as one it replaced already was.
      tapeLock?.holdFile();
    } catch (error) {
      target.writer.close();
      throw error;
    }
    const key = sessionRecordKey(options);
    // The tape was just replaced: an earlier backup's record no longer describes it.
    removeSessionRecord(key);
    removeCheckpointLeftover(key);
    const bitmap = DurableSlotBitmap.create(bitmapPath(key), states.snapshotStates());
    const storedLayout: StoredLayout = { set, source, tapeVolser, creationDate, headerLabels: labels };
    return { set, source, layout, states, ...target, bitmap, storedLayout, ...(spool ? { spool } : {}), ...(chain ? { chain } : {}) };
  } catch (error) {
    spool?.close();
    if (options.spoolPath !== undefined) rmSync(options.spoolPath, { force: true });
    throw error;
  }
}

/** A resumed backup; its options name the spool the record names, if it had one. */
export function prepareResumedBackup(volume: Volume, options: TapeBackupOptions): PreparedBackup & { readonly options: TapeBackupOptions } {
  checkWritable(volume);
  checkOptions(volume, options);
  return withTapeLockFor(options, (tapeLock) => prepareResumedUnderLock(volume, options, tapeLock));
}

function prepareResumedUnderLock(
  volume: Volume,
  options: TapeBackupOptions,
  tapeLock: ImageLock | undefined,
): PreparedBackup & { readonly options: TapeBackupOptions } {
  const tape = sessionRecordKey(options);
  const point = loadResumePoint(volume, tape, options.spoolPath);
  removeCheckpointLeftover(tape);
  const { stored } = point;
  const layout = planBackupTape(stored.set, {
    tapeVolser: stored.tapeVolser,
    creationDate: stored.creationDate,
    headerLabels: (_, i) => stored.headerLabels[i] ?? [],
  });
  // The tape written is the file its lock checked, not a link or another file put at its name since.
  const target =
    options.tapeStartBlock !== undefined
      ? openTapeTarget(volume, options, layout.plan)
      : { writer: MappedTapeWriter.open(options.tapePath, layout.plan, tapeLock) };
  const { spoolPath } = point;
  const namedByRecord = spoolPath !== undefined && point.record.spoolPath !== undefined && resolve(point.record.spoolPath) === resolve(spoolPath);
  const spool = spoolPath === undefined ? undefined : BackupSpool.reopen(spoolPath, new Set(point.spooled), namedByRecord);
  const bitmap = DurableSlotBitmap.reopen(bitmapPath(tape), point.states.snapshotStates());
  return {
    set: stored.set,
    source: stored.source,
    layout,
    states: point.states,
    ...target,
    bitmap,
    ...(spool ? { spool } : {}),
    spooled: point.spooled,
    options: { ...options, ...(point.spoolPath !== undefined ? { spoolPath: point.spoolPath } : {}) },
  };
}
