/**
 * The check every data set write, allocation, delete or restore makes before its first byte: the
 * data sets it is about to write (their extents, or the tracks it plans for them) must lie on the
 * volume and clear of track 0 (IPL and VOL1), the VTOC and every other data set's extents.
 * A VTOC whose extents cross would have the write destroy the label, the VTOC or another data set,
 * so the whole plan is refused with a VtocError naming the data set, the extent and what it
 * overlaps, and nothing is written. `snaptape check` reports the same overlaps
 * (extent-overlap.ts computes them for both).
 *
 * Overlaps between data sets that the write does not touch are left alone: the write cannot make
 * them worse, and `check` reports them.
 */
import { VtocError } from '../errors/snaptape-error.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { Volume } from '../volume/volume.js';
import type { Cchhr } from '../geometry/cchh.js';
import { extentFromRun, extentRun, EXTENT_TYPE, NULL_CCHHR, type Extent, type TrackRun } from './extent.js';
import { findRunOverlaps, labelTrackRun, ownedRunText, tracksText, vtocOwnedRun, type OwnedRun } from './extent-overlap.js';
import type { DatasetEntry, VtocView } from './vtoc-reader.js';

/** A data set about to be written, and the extents the write will use. */
export interface DatasetWritePlan {
  readonly dsname: string;
  readonly extents: readonly Extent[];
  /** Its Format-1, when it has one yet (an allocation plans before writing it). */
  readonly format1Address?: Cchhr;
}

/** Conflicts named in the message at most; the rest are counted. */
const MAX_LISTED = 4;

export function writePlanOf(entry: DatasetEntry): DatasetWritePlan {
  return { dsname: entry.name, extents: entry.extents, format1Address: entry.format1Address };
}

/** A plan from track indexes (a restore places tracks by their home addresses): one extent per run. */
export function writePlanOfTracks(geometry: CkdGeometry, dsname: string, tracks: readonly number[]): DatasetWritePlan {
  const sorted = [...new Set(tracks)].sort((a, b) => a - b);
  const runs: TrackRun[] = [];
  for (const t of sorted) {
    const last = runs[runs.length - 1];
    if (last && last.firstTrack + last.trackCount === t) runs[runs.length - 1] = { firstTrack: last.firstTrack, trackCount: last.trackCount + 1 };
    else runs.push({ firstTrack: t, trackCount: 1 });
  }
  return { dsname, extents: runs.map((r, i) => extentFromRun(geometry, r, i, EXTENT_TYPE.data)) };
}

function extentText(e: Extent, run: TrackRun): string {
  return `extent ${e.sequence} (CC/HH ${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}, ${tracksText(run)})`;
}

function onVolume(geometry: CkdGeometry, e: Extent): boolean {
  const inside = (c: number, h: number): boolean => c < geometry.cylinders && h < geometry.heads;
  return inside(e.begin.cylinder, e.begin.head) && inside(e.end.cylinder, e.end.head) && extentRun(geometry, e).trackCount >= 1;
}

/**
 * Throws a VtocError unless every planned extent lies on the volume, clear of track 0, the VTOC
 * (when `view` is given; a volume without a VTOC has none) and the other data sets of `view`.
 * `action` reads after "Cannot": "put into", "delete", "restore".
 */
export function guardDatasetWrites(volume: Volume, view: VtocView | undefined, plans: readonly DatasetWritePlan[], action: string): void {
  const geometry = volume.ckd;
  const planned = new Set(plans.map((p) => p.dsname.toUpperCase()));
  const refuse = (dsname: string, what: string): never => {
    throw new VtocError(
      `Cannot ${action} data set ${dsname} on ${volume.path}: ${what}; nothing was written (snaptape check ${volume.path} lists the VTOC's damage)`,
      { path: volume.path, dsname },
    );
  };
  const owned: OwnedRun[] = [labelTrackRun()];
  if (view) {
    owned.push(vtocOwnedRun(view.format4Address, view.vtocRun));
    for (const d of view.datasets) {
      if (planned.has(d.name)) continue;
      for (const e of d.extents)
        owned.push({ owner: `data set ${d.name} extent ${e.sequence}`, address: d.format1Address, run: extentRun(geometry, e), dsname: d.name });
    }
  }
  const extentOf = new Map<OwnedRun, Extent>();
  for (const plan of plans) {
    const dsname = plan.dsname.toUpperCase();
    for (const e of plan.extents) {
      if (!onVolume(geometry, e)) {
        refuse(
          dsname,
          `its extent ${e.sequence} (CC/HH ${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}) is outside the volume (cylinders 0-${geometry.cylinders - 1}, heads 0-${geometry.heads - 1})`,
        );
      }
      const o: OwnedRun = { owner: `data set ${dsname} extent ${e.sequence}`, address: plan.format1Address ?? NULL_CCHHR, run: extentRun(geometry, e), dsname };
      extentOf.set(o, e);
      owned.push(o);
    }
  }
  const conflicts = findRunOverlaps(owned).filter((x) => extentOf.has(x.first) || extentOf.has(x.second));
  const head = conflicts[0];
  if (!head) return;
  // Name the planned side; when both are planned, the earlier one.
  const mine = extentOf.has(head.first) ? head.first : head.second;
  const againstMine = conflicts.filter((x) => x.first === mine || x.second === mine);
  const listed = againstMine.slice(0, MAX_LISTED).map((x) => `${ownedRunText(x.first === mine ? x.second : x.first)} on ${tracksText(x.tracks)}`);
  const more = conflicts.length - listed.length;
  refuse(
    mine.dsname as string,
    `its ${extentText(extentOf.get(mine) as Extent, mine.run)} overlaps ${listed.join(', and ')}${more > 0 ? ` (and ${more} more overlaps)` : ''}`,
  );
}
