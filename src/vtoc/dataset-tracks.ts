/**
 * A data set's tracks in logical order: its extents, by sequence number, each a run of tracks.
 */
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import { extentRun, type TrackRun } from './extent.js';
import type { DatasetEntry } from './vtoc-reader.js';

export function datasetRuns(geometry: CkdGeometry, entry: DatasetEntry): TrackRun[] {
  return entry.extents.map((e) => extentRun(geometry, e));
}

export function datasetTrackIndexes(geometry: CkdGeometry, entry: DatasetEntry): number[] {
  const out: number[] = [];
  for (const run of datasetRuns(geometry, entry)) for (let t = run.firstTrack; t < run.firstTrack + run.trackCount; t++) out.push(t);
  return out;
}
