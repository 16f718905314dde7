/**
 * A volume's change tracker: an interceptor (stage observer) that marks, before every host write
 * goes ahead, the era of each unit it touches in `<image>.tracking` (tracking-file.ts), so the map
 * is on disk before the write is acknowledged (dm-era's rule; the DurableSlotBitmap writes a unit's
 * word only when its era changes, so a unit costs one pwrite per era).
 *
 * Opening: a holder still named in the state file crashed; its marks are all on disk, and the map's
 * mtime (stamped before acknowledged writes, as the backup's bitmap is) bounds when it last wrote: an
 * image modified later than that was written by someone else. A holder that closed cleanly recorded
 * the image's mtime: a different one now means a write bypassed the tracker. Either way every
 * existing checkpoint stops being a base (`validFromEra`), with the reason kept for the refusal.
 */
import { statSync } from 'node:fs';
import { SessionError, UsageError } from '../../errors/snaptape-error.js';
import type { Volume } from '../../volume/volume.js';
import type { WriteEvent, WriteInterceptor } from '../../volume/write-interceptor.js';
import { DurableSlotBitmap } from '../tape-backup/durable-bitmap.js';
import { CRASH_MTIME_SLACK_MS } from '../tape-backup/backup-resume.js';
import { closeSync } from 'node:fs';
import { openRegularFile, readFully } from '../../base/file-io.js';
import {
  TRACKING_VERSION,
  checkCheckpointName,
  checkpointValid,
  isTracked,
  readTrackingState,
  trackingMapPath,
  writeTrackingState,
  writeTrackingStateOffThread,
  type Checkpoint,
  type CheckpointTape,
  type TrackingState,
} from './tracking-file.js';
import { translateIoError } from '../../errors/io-error.js';

const MAP_NAME = 'the change-tracking map';

/** The tracker attached to each open volume (one per volume, for the life of its open). */
const trackers = new WeakMap<Volume, ChangeTracker>();

export class ChangeTracker implements WriteInterceptor {
  // Set once.
  readonly name: string;
  readonly stage = 'observer' as const;
  readonly volume: Volume;
  // Main thread only.
  private stateValue: TrackingState;
  private readonly eras: Int32Array;
  private readonly map: DurableSlotBitmap;
  private closed = false;
  /** States decided so far: one written off the thread lands only if it is still the last. */
  private saves = 0;

  private constructor(volume: Volume, state: TrackingState, eras: Int32Array, map: DurableSlotBitmap) {
    this.volume = volume;
    this.name = `change tracking of ${volume.path}`;
    this.stateValue = state;
    this.eras = eras;
    this.map = map;
  }

  /** The tracking state as it is now (checkpoints, era, validity). */
  get state(): TrackingState {
    return this.stateValue;
  }

  /**
   * Starts tracking a volume open for writing: creates its side files (era 1, no checkpoint) if it
   * has none, and attaches the tracker. Returns the attached tracker.
   */
  static enable(volume: Volume): ChangeTracker {
    const attached = trackers.get(volume);
    if (attached) return attached;
    if (volume.readOnly) throw new UsageError(`Cannot track changes of ${volume.path}: it is open read-only`, { path: volume.path });
    if (!isTracked(volume.path)) {
      const eras = new Int32Array(volume.unitCount);
      DurableSlotBitmap.create(trackingMapPath(volume.path), eras, MAP_NAME).close();
      writeTrackingState(volume.path, {
        version: TRACKING_VERSION,
        unitCount: volume.unitCount,
        era: 1,
        validFromEra: 1,
        holder: null,
        closedMtimeNs: imageMtimeNs(volume.path),
        checkpoints: [],
      });
    }
    return ChangeTracker.attach(volume) as ChangeTracker;
  }

  /** Attaches the tracker of a tracked volume open for writing (none for an untracked or read-only one). */
  static attach(volume: Volume): ChangeTracker | undefined {
    const attached = trackers.get(volume);
    if (attached) return attached;
    if (volume.readOnly || !isTracked(volume.path)) return undefined;
    const state = readVolumeTrackingState(volume, 'track changes of');
    const eras = readEras(volume.path, state.unitCount);
    const bypass = bypassReason(volume.path, state);
    const opened: TrackingState = {
      ...state,
      ...(bypass ? { validFromEra: state.era, invalidReason: bypass } : {}),
      holder: { pid: process.pid, since: new Date().toISOString() },
      closedMtimeNs: null,
    };
    const map = DurableSlotBitmap.reopen(trackingMapPath(volume.path), eras, MAP_NAME);
    // The holder is on disk before the first write it tracks: a crash from here on is told at the next open.
    writeTrackingState(volume.path, opened);
    const tracker = new ChangeTracker(volume, opened, eras, map);
    volume.addInterceptor(tracker);
    trackers.set(volume, tracker);
    return tracker;
  }

  // ---- the interceptor ------------------------------------------------------------------------

  beforeWrite(event: WriteEvent): void {
    const era = this.stateValue.era;
    const end = Math.min(event.firstUnit + event.unitCount, this.eras.length);
    for (let u = event.firstUnit; u < end; u++) {
      if (this.eras[u] === era) continue;
      this.map.mark(u, era);
      this.eras[u] = era;
    }
    this.map.touch();
  }

  beforeSync(): void {
    this.map.sync();
  }

  /** The volume closed: the map is synced, and the image's final mtime recorded with no holder. */
  afterClose(): void {
    if (this.closed) return;
    this.closed = true;
    trackers.delete(this.volume);
    this.volume.removeInterceptor(this);
    try {
      this.map.sync();
      this.map.close();
      this.save({ ...this.stateValue, holder: null, closedMtimeNs: imageMtimeNs(this.volume.path) });
    } catch {
      // The holder stays recorded: the next open judges the image as after a crash (by the map's
      // stamp), which is safe; closing the volume must not fail for it.
    }
  }

  // ---- checkpoints ----------------------------------------------------------------------------

  /**
   * Takes a checkpoint now, between two host writes: it closes the current era. A checkpoint of the
   * same name is replaced (a backup to the same tape again). Durable when this returns.
   */
  checkpoint(name: string, tape?: CheckpointTape): Checkpoint {
    checkCheckpointName(name);
    const checkpoint: Checkpoint = { name, era: this.stateValue.era, at: new Date().toISOString(), ...(tape ? { tape } : {}) };
    this.save({
      ...this.stateValue,
      era: this.stateValue.era + 1,
      checkpoints: [...this.stateValue.checkpoints.filter((c) => c.name !== name), checkpoint],
    });
    return checkpoint;
  }

  /**
   * Records that the backup to tape `tapePath` (absolute) completed, with its tape's SHA-256: its
   * checkpoint can be a base now. Called at a backup's finish, on the owning thread, where host
   * writes wait: the state's fsyncs run on libuv's pool. The state in memory says so at once, so
   * that a state saved meanwhile (a checkpoint, the close) carries it, and then this one is dropped.
   */
  async completeBackupOf(tapePath: string, sha256: string): Promise<void> {
    if (this.closed) return;
    const state: TrackingState = {
      ...this.stateValue,
      checkpoints: this.stateValue.checkpoints.map((c) =>
        c.tape?.path === tapePath && !c.tape.complete ? { ...c, tape: { ...c.tape, sha256, complete: true } } : c,
      ),
    };
    this.stateValue = state;
    const saved = (this.saves += 1);
    await writeTrackingStateOffThread(this.volume.path, state, () => this.saves === saved);
  }

  /** The units written since checkpoint `name` (a refusal, with its reason, when it cannot say). */
  changedSince(name: string): Uint8Array {
    return changedUnits(this.volume.path, this.stateValue, this.eras, name);
  }

  private save(state: TrackingState): void {
    writeTrackingState(this.volume.path, state);
    this.saves += 1;
    this.stateValue = state;
  }
}

/** The tracker attached to an open volume, if it has one. */
export function trackerOf(volume: Volume): ChangeTracker | undefined {
  return trackers.get(volume);
}

/**
 * Which units (tracks, or FBA blocks) changed since checkpoint `name` of this volume: one byte per
 * unit, 1 when it was written after the checkpoint. Uses the volume's attached tracker, or reads the
 * side files of a volume open without one (read-only). Throws SessionError, with the reason, when
 * the checkpoint is unknown or a write bypassed the tracker since it.
 */
export function changedUnitsSince(volume: Volume, name: string): Uint8Array {
  const tracker = trackers.get(volume);
  if (tracker) return tracker.changedSince(name);
  if (!isTracked(volume.path)) throw notTracked(volume.path);
  const state = readVolumeTrackingState(volume, 'tell the changes of');
  const bypass = bypassReason(volume.path, state);
  const seen: TrackingState = bypass ? { ...state, validFromEra: state.era, invalidReason: bypass } : state;
  return changedUnits(volume.path, seen, readEras(volume.path, state.unitCount), name);
}

/**
 * The tracking state of `volume`, refused (SessionError) unless it counts the volume's units: the
 * state file is the user's, and its count sizes the map read next.
 */
function readVolumeTrackingState(volume: Volume, action: string): TrackingState {
  const state = readTrackingState(volume.path);
  if (state.unitCount !== volume.unitCount) {
    throw new SessionError(`Cannot ${action} ${volume.path}: its tracking map has ${state.unitCount} units, the volume ${volume.unitCount}`, {
      path: volume.path,
    });
  }
  return state;
}

export function notTracked(path: string): SessionError {
  return new SessionError(`Cannot tell the changes of ${path}: it has no change tracking (start it with snaptape track ${path})`, { path });
}

/** The checkpoint `name`, refused with the reason when it is unknown or no longer a base. */
export function usableCheckpoint(path: string, state: TrackingState, name: string): Checkpoint {
  const checkpoint = state.checkpoints.find((c) => c.name === name);
  if (!checkpoint) {
    const known = state.checkpoints.map((c) => c.name).join(', ') || 'none';
    throw new SessionError(`Cannot use checkpoint ${name} of ${path}: there is no such checkpoint (it has: ${known})`, { path, checkpoint: name });
  }
  if (!checkpointValid(state, checkpoint)) {
    throw new SessionError(
      `Cannot use checkpoint ${name} of ${path}: ${state.invalidReason ?? 'a write bypassed the change tracking'} after it, so the changes since it are unknown; run a full backup`,
      { path, checkpoint: name },
    );
  }
  return checkpoint;
}

function changedUnits(path: string, state: TrackingState, eras: Int32Array, name: string): Uint8Array {
  const checkpoint = usableCheckpoint(path, state, name);
  const changed = new Uint8Array(eras.length);
  for (let u = 0; u < eras.length; u++) if ((eras[u] as number) > checkpoint.era) changed[u] = 1;
  return changed;
}

/** Why the image may hold writes the map does not (undefined: it holds none). */
function bypassReason(path: string, state: TrackingState): string | undefined {
  const mtimeNs = imageMtimeNs(path);
  if (state.holder) {
    // The last holder crashed: its map was stamped before every write it acknowledged.
    const stampMs = statSync(trackingMapPath(path)).mtimeMs;
    const modifiedMs = Number(BigInt(mtimeNs) / 1_000_000n);
    if (modifiedMs > stampMs + CRASH_MTIME_SLACK_MS) {
      return `${path} was written ${Math.round(modifiedMs - stampMs)} ms after its tracker (process ${state.holder.pid}) last stamped its map, with no tracker holding it`;
    }
    return undefined;
  }
  if (state.closedMtimeNs !== null && state.closedMtimeNs !== mtimeNs) {
    return `${path} was modified while no tracker held it (its mtime moved since the tracker let go)`;
  }
  return undefined;
}

function readEras(path: string, unitCount: number): Int32Array {
  const mapPath = trackingMapPath(path);
  // Only a regular file (never through a symbolic link), and its size first: a map of another
  // length is refused unread (a sparse one costs no disk, but reading it whole would cost its size
  // in memory).
  const { fd, sizeBytes } = openRegularFile(mapPath, MAP_NAME, false, { noFollow: true });
  let bytes: Buffer;
  try {
    if (sizeBytes !== unitCount * 4) {
      throw new SessionError(`Cannot read the change-tracking map ${mapPath}: it has ${sizeBytes} bytes, ${unitCount * 4} expected`, { path: mapPath });
    }
    bytes = Buffer.alloc(sizeBytes);
    readFully(fd, bytes, 0, mapPath, MAP_NAME);
  } finally {
    closeSync(fd);
  }
  const eras = new Int32Array(unitCount);
  for (let u = 0; u < unitCount; u++) eras[u] = bytes.readInt32LE(u * 4);
  return eras;
}

function imageMtimeNs(path: string): string {
  try {
    return String(statSync(path, { bigint: true }).mtimeNs);
  } catch (error) {
    throw translateIoError(error, 'stat the image', path);
  }
}
