/**
 * The change-tracking side files of a volume image (docs/side-files.md,
 * native-layout/change-tracking.md):
 * - `<image>.tracking`: one little-endian Int32 per unit (track or FBA block), the era in which the
 *   unit was last written (0: never, since tracking began); kept by a DurableSlotBitmap, so a unit's
 *   era is on disk before the write that changes it is acknowledged (dm-era's rule);
 * - `<image>.tracking.json`: the current era, the checkpoints (each the era it closed), who holds
 *   the tracker now, and the image's mtime when the last holder let go. Replaced atomically.
 * A checkpoint closes the current era E (it records E) and opens E + 1: the units changed since it
 * are exactly those whose era is above E.
 */
import { existsSync } from 'node:fs';
import { readRegularFileText } from '../../base/file-io.js';
import { durableReplace, durableReplaceOffThread } from '../../image/durable-replace.js';
import { ImageFormatError, UsageError } from '../../errors/snaptape-error.js';

export const TRACKING_VERSION = 1;

/** The backup tape a checkpoint was taken for (every full or incremental backup of a tracked volume). */
export interface CheckpointTape {
  readonly path: string;
  readonly volser: string;
  /** SHA-256 of the whole finished tape; set when the backup completed. */
  readonly sha256?: string;
  readonly complete: boolean;
}

export interface Checkpoint {
  readonly name: string;
  /** The era this checkpoint closed: units written after it carry a higher one. */
  readonly era: number;
  readonly at: string;
  readonly tape?: CheckpointTape;
}

export interface TrackingState {
  readonly version: number;
  readonly unitCount: number;
  /** Host writes are marked with this era. */
  readonly era: number;
  /** Checkpoints that closed an era below this cannot be a base: a write bypassed the tracker after them. */
  readonly validFromEra: number;
  /** Why the checkpoints below `validFromEra` were invalidated. */
  readonly invalidReason?: string;
  /** The process that holds the tracker now (null: none; a holder found at open has crashed). */
  readonly holder: { readonly pid: number; readonly since: string } | null;
  /** The image's mtime (ns) when the last holder closed it cleanly. */
  readonly closedMtimeNs: string | null;
  readonly checkpoints: readonly Checkpoint[];
}

export function trackingMapPath(imagePath: string): string {
  return `${imagePath}.tracking`;
}

export function trackingStatePath(imagePath: string): string {
  return `${imagePath}.tracking.json`;
}

export function isTracked(imagePath: string): boolean {
  return existsSync(trackingStatePath(imagePath));
}

/** A checkpoint name: what `--checkpoint` and `--since` take, and the tape labels carry. */
const CHECKPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$/;

export function checkCheckpointName(name: string): string {
  if (!CHECKPOINT_NAME.test(name)) {
    throw new UsageError(`Cannot use "${name}" as a checkpoint name: use 1-40 letters, digits, '.', '_', ':' or '-', starting with a letter or digit`, {
      checkpoint: name,
    });
  }
  return name;
}

export function readTrackingState(imagePath: string): TrackingState {
  const path = trackingStatePath(imagePath);
  const text = readRegularFileText(path, 'the change-tracking state');
  let state: TrackingState;
  try {
    state = JSON.parse(text) as TrackingState;
  } catch {
    throw new ImageFormatError(`Cannot read the change-tracking state ${path}: it is not JSON`, { path });
  }
  const good =
    state !== null &&
    typeof state === 'object' &&
    state.version === TRACKING_VERSION &&
    Number.isInteger(state.unitCount) &&
    Number.isInteger(state.era) &&
    state.era >= 1 &&
    Number.isInteger(state.validFromEra) &&
    Array.isArray(state.checkpoints) &&
    state.checkpoints.every((c) => typeof c?.name === 'string' && Number.isInteger(c.era) && c.era < state.era);
  if (!good) throw new ImageFormatError(`Cannot read the change-tracking state ${path}: it is not a version ${TRACKING_VERSION} state`, { path });
  return state;
}

export function writeTrackingState(imagePath: string, state: TrackingState): void {
  durableReplace(trackingStatePath(imagePath), trackingStateText(state), 'write the change-tracking state');
}

/**
 * `writeTrackingState` with the fsyncs off this thread (durable-replace.ts), for the owning thread
 * of a volume: the state lands only if `stillWanted()` still says so (no newer state was written
 * meanwhile). False when dropped.
 */
export function writeTrackingStateOffThread(imagePath: string, state: TrackingState, stillWanted: () => boolean): Promise<boolean> {
  return durableReplaceOffThread(trackingStatePath(imagePath), trackingStateText(state), 'write the change-tracking state', stillWanted);
}

function trackingStateText(state: TrackingState): string {
  return `${JSON.stringify(state, null, 1)}\n`;
}

/** True when the checkpoint can still be a base: no write bypassed the tracker since it. */
export function checkpointValid(state: TrackingState, checkpoint: Checkpoint): boolean {
  return checkpoint.era >= state.validFromEra;
}
