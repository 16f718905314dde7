/**
 * The library API of change tracking: start it on a volume, set named checkpoints, and describe it
 * (the checkpoints that `ls` and `info` show).
 */
import { ChangeTracker } from '../techniques/tracking/change-tracker.js';
import { checkCheckpointName, checkpointValid, isTracked, readTrackingState, type Checkpoint } from '../techniques/tracking/tracking-file.js';
import { withVolume } from './volume-api.js';

export interface TrackingCheckpoint extends Checkpoint {
  /** False once a write bypassed the tracker after it: it can no longer be a base. */
  readonly usable: boolean;
}

export interface TrackingStatus {
  readonly image: string;
  /** The era host writes are marked with now. */
  readonly era: number;
  readonly checkpoints: readonly TrackingCheckpoint[];
  /** Why older checkpoints are not usable, when a write bypassed the tracker. */
  readonly invalidReason: string | null;
  /** The process holding the tracker now (or that crashed holding it). */
  readonly holder: { readonly pid: number; readonly since: string } | null;
}

/** The change tracking of an image, read from its side files (nothing is opened for writing); null when it has none. Throws ImageFormatError for a damaged state file. */
export function trackingStatus(image: string): TrackingStatus | null {
  if (!isTracked(image)) return null;
  const state = readTrackingState(image);
  return {
    image,
    era: state.era,
    checkpoints: state.checkpoints.map((c) => ({ ...c, usable: checkpointValid(state, c) })),
    invalidReason: state.invalidReason ?? null,
    holder: state.holder,
  };
}

/** Starts change tracking on an image (if it has none) and, with `checkpoint`, sets that named checkpoint now. Throws UsageError for a bad name or a read-only image, LockedError when another process holds it. */
export function trackVolume(image: string, options: { readonly checkpoint?: string } = {}): TrackingStatus {
  if (options.checkpoint !== undefined) checkCheckpointName(options.checkpoint);
  withVolume(image, {}, (volume) => {
    const tracker = ChangeTracker.enable(volume);
    if (options.checkpoint !== undefined) tracker.checkpoint(options.checkpoint);
  });
  return trackingStatus(image) as TrackingStatus;
}
