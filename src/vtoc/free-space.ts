/**
 * Free space on a CKD volume, computed from what is in use (native-layout/vtoc-procedures.md): track 0, the VTOC
 * extent, and every data set extent. Format-5 DSCBs are written from this, never read for it, so
 * a stale or missing Format-5 (dasdload leaves it empty) cannot mislead an allocation.
 */
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import { extentRun, type TrackRun } from './extent.js';
import type { VtocView } from './vtoc-reader.js';

export function usedTrackMap(geometry: CkdGeometry, view: VtocView): Uint8Array {
  const used = new Uint8Array(geometry.trackCount);
  used[0] = 1;
  const mark = (run: TrackRun): void => {
    used.fill(1, run.firstTrack, run.firstTrack + run.trackCount);
  };
  mark(view.vtocRun);
  for (const d of view.datasets) for (const e of d.extents) mark(extentRun(geometry, e));
  return used;
}

/** Maximal runs of free tracks, in disk order. */
export function freeRuns(used: Uint8Array): TrackRun[] {
  const runs: TrackRun[] = [];
  let start = -1;
  for (let t = 0; t <= used.length; t++) {
    const free = t < used.length && used[t] === 0;
    if (free && start < 0) start = t;
    if (!free && start >= 0) {
      runs.push({ firstTrack: start, trackCount: t - start });
      start = -1;
    }
  }
  return runs;
}

/** Maximal runs of whole free cylinders, as track runs starting on head 0. */
export function freeCylinderRuns(geometry: CkdGeometry, used: Uint8Array): TrackRun[] {
  const cylinderFree = new Uint8Array(geometry.cylinders);
  for (let c = 0; c < geometry.cylinders; c++) {
    const base = c * geometry.heads;
    cylinderFree[c] = used.subarray(base, base + geometry.heads).every((u) => u === 0) ? 0 : 1;
  }
  return freeRuns(cylinderFree).map((r) => ({ firstTrack: r.firstTrack * geometry.heads, trackCount: r.trackCount * geometry.heads }));
}

export interface FreeSpaceSummary {
  readonly freeTracks: number;
  readonly freeCylinders: number;
  readonly freeExtents: number;
  readonly largestFreeTracks: number;
}

export function summarizeFreeSpace(geometry: CkdGeometry, used: Uint8Array): FreeSpaceSummary {
  const runs = freeRuns(used);
  return {
    freeTracks: runs.reduce((n, r) => n + r.trackCount, 0),
    freeCylinders: freeCylinderRuns(geometry, used).reduce((n, r) => n + r.trackCount / geometry.heads, 0),
    freeExtents: runs.length,
    largestFreeTracks: runs.reduce((m, r) => Math.max(m, r.trackCount), 0),
  };
}
