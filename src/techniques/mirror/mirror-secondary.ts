/**
 * One secondary of a mirrored volume as MirrorSession keeps it (fields grouped by regime), the
 * choice of the next tracks its background copy sends, and its status record.
 *
 * Invariant of `selectCopyUnits`: a track whose status byte is an impossible pattern is recorded
 * in `errors` (with a "Cannot copy track …" message) and is never part of a copy run.
 */
import type { PacingPlan } from '../../engine/copy-pacing.js';
import type { TrackStateArray } from '../../engine/track-state.js';
import type { Volume } from '../../volume/volume.js';
import type { LinkState } from './mirror-link-state.js';
import { MAX_REPORTED_TRACK_ERRORS } from './mirror-limits.js';
import type { StoredMirror } from './mirror-state-file.js';
import type { TargetSpec } from './mirror-targets.js';
import type { MirrorStatus, ResyncProgress, TrackError } from './mirror-types.js';
import type { TrackStatusTable } from './track-status-table.js';

/**
 * One run of a secondary's background copy (initial copy or resync) through the copy engine: its
 * own track-state array, whose PENDING units are the tracks invalid for it when the run began.
 */
export interface CopyRun {
  readonly states: TrackStateArray;
  readonly pacing: PacingPlan;
}

export interface Secondary {
  // Set once.
  readonly mirror: number;
  readonly name: string;
  readonly spec: TargetSpec;
  /** Index of the remote link in the link channel (mirror − 2). */
  readonly link: number;
  // Main thread only.
  state: LinkState;
  local: Volume | undefined;
  remoteUp: boolean;
  /** The epoch of the link's last connect: only its answer counts. */
  linkEpoch: number;
  /** That connect has not been answered yet. */
  connectPending: boolean;
  /** The split writes of the secondary are invalid here, durably: the next connect tells it to forget them. */
  forgetSplitWrites: boolean;
  resync: { -readonly [K in keyof ResyncProgress]: ResyncProgress[K] } | undefined;
  /** The background copy running for it, if any (cancelled through its control word). */
  copyRun: CopyRun | undefined;
  errors: Map<number, string>;
  splitAt: string | undefined;
  splitCount: number;
  lastError: string | undefined;
}

export function newSecondary(stored: StoredMirror, index: number): Secondary {
  return {
    mirror: index + 2,
    name: `M${index + 2}`,
    spec: { kind: stored.kind, target: stored.target },
    link: index,
    state: stored.linkState,
    local: undefined,
    remoteUp: false,
    linkEpoch: 0,
    connectPending: false,
    forgetSplitWrites: false,
    resync: undefined,
    copyRun: undefined,
    errors: new Map<number, string>(),
    splitAt: undefined,
    splitCount: stored.splitCount,
    lastError: undefined,
  };
}

/** The invalid, copyable tracks of `s`, ascending; a track with an impossible status byte goes to `errors`. */
export function selectCopyUnits(s: Secondary, table: TrackStatusTable, options: { configuredMask: number; volumeName: string }): Int32Array {
  const invalid = table.invalidUnits(s.mirror);
  let count = 0;
  for (const u of invalid) {
    const problem = table.patternProblem(u, options.configuredMask);
    if (problem !== undefined) s.errors.set(u, `Cannot copy track ${u} of ${options.volumeName} to ${s.name}: ${problem}`);
    // In place: the copyable units stay in order at the front.
    else invalid[count++] = u;
  }
  return invalid.subarray(0, count);
}

export function describeSecondary(s: Secondary, table: TrackStatusTable, options: { connected: boolean; detached: boolean }): MirrorStatus {
  const invalidTracks = table.invalidCount(s.mirror);
  const errors: TrackError[] = [...s.errors.entries()].slice(0, MAX_REPORTED_TRACK_ERRORS).map(([track, reason]) => ({ track, reason }));
  return {
    mirror: s.name,
    kind: s.spec.kind,
    target: s.spec.target,
    state: s.state,
    connected: options.connected,
    inSync: s.state === 'ONGOING' && options.connected && invalidTracks === 0 && !options.detached,
    invalidTracks,
    resync: s.resync ? { ...s.resync } : null,
    trackErrors: errors,
    trackErrorCount: s.errors.size,
    splitAt: s.splitAt ?? null,
    splitCount: s.splitCount,
    lastError: s.lastError ?? null,
  };
}
