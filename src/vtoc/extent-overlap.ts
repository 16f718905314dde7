/**
 * Which owners of a CKD volume's tracks claim the same track (native-layout/vtoc-procedures.md): track 0 (IPL and
 * VOL1), the VTOC extent, and every data set extent. The one overlap computation, used by
 * `snaptape check` (check/vtoc-space-check.ts) to report damage and by dataset-write-guard.ts to
 * refuse a write through it.
 */
import { formatCchhr, type Cchhr } from '../geometry/cchh.js';
import type { TrackRun } from './extent.js';
import { VOL1_RECORD } from './volume-label.js';

/** A run of tracks and who claims it. `dsname` is set for a data set's extent. */
export interface OwnedRun {
  readonly owner: string;
  /** The DSCB (or VOL1) that makes the claim. */
  readonly address: Cchhr;
  readonly run: TrackRun;
  readonly dsname?: string;
}

/** Two claims on the same tracks: `first` starts at or before `second`. */
export interface RunOverlap {
  readonly first: OwnedRun;
  readonly second: OwnedRun;
  readonly tracks: TrackRun;
}

export function labelTrackRun(): OwnedRun {
  return { owner: 'track 0 (IPL records and VOL1)', address: { cylinder: 0, head: 0, record: VOL1_RECORD }, run: { firstTrack: 0, trackCount: 1 } };
}

export function vtocOwnedRun(format4Address: Cchhr, run: TrackRun): OwnedRun {
  return { owner: `the VTOC (Format-4 at ${formatCchhr(format4Address)})`, address: format4Address, run };
}

export function tracksText(run: TrackRun): string {
  return run.trackCount === 1 ? `track ${run.firstTrack}` : `tracks ${run.firstTrack}-${run.firstTrack + run.trackCount - 1}`;
}

/** "owner (tracks a-b)". */
export function ownedRunText(o: OwnedRun): string {
  return `${o.owner} (${tracksText(o.run)})`;
}

/** Every pair of runs that share a track, in disk order of the earlier run. */
export function findRunOverlaps(owned: readonly OwnedRun[]): RunOverlap[] {
  const sorted = [...owned].sort((a, b) => a.run.firstTrack - b.run.firstTrack);
  const overlaps: RunOverlap[] = [];
  // Bounded: each pair is looked at once, and only while the runs still overlap.
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as OwnedRun;
    const aEnd = a.run.firstTrack + a.run.trackCount;
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as OwnedRun;
      if (b.run.firstTrack >= aEnd) break;
      const firstTrack = b.run.firstTrack;
      overlaps.push({ first: a, second: b, tracks: { firstTrack, trackCount: Math.min(aEnd, b.run.firstTrack + b.run.trackCount) - firstTrack } });
    }
  }
  return overlaps;
}
