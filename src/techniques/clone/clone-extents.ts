/**
 * Which units of the source take part in a clone. Without data sets: every unit. In extent mode
 * (CKD, `datasets` given as names or patterns, vtoc/dataset-pattern.ts): only the tracks of
 * the chosen data sets' extents, read from the source's VTOC at CREATE. The others keep the
 * destination's own data, have no PB and no IND bit, and are never copied.
 */
import { DatasetError, UsageError } from '../../errors/snaptape-error.js';
import { datasetTrackIndexes } from '../../vtoc/dataset-tracks.js';
import { guardDatasetWrites, writePlanOf } from '../../vtoc/dataset-write-guard.js';
import { readVtoc } from '../../vtoc/vtoc-reader.js';
import type { Volume } from '../../volume/volume.js';
import { datasetPatternRegExp, matchesAnyPattern } from '../../vtoc/dataset-pattern.js';

export interface CloneExtent {
  /** 1 for a unit that takes part. */
  readonly included: Uint8Array;
  readonly includedCount: number;
  /** The data sets chosen, or an empty list for the whole volume. */
  readonly datasets: readonly string[];
}

export function selectCloneUnits(source: Volume, datasets: readonly string[] | undefined, sessionName: string): CloneExtent {
  const included = new Uint8Array(source.unitCount);
  if (!datasets || datasets.length === 0) {
    included.fill(1);
    return { included, includedCount: included.length, datasets: [] };
  }
  if (source.geometry.kind !== 'ckd') {
    throw new UsageError(`Cannot create clone session ${sessionName} of data sets on ${source.path}: it is an FBA volume (extent mode is for CKD)`, {
      path: source.path,
    });
  }
  const geometry = source.ckd;
  const patterns = datasets.map(datasetPatternRegExp);
  const view = readVtoc(source);
  const chosen = view.datasets.filter((d) => matchesAnyPattern(d.name, patterns));
  if (chosen.length === 0) {
    throw new DatasetError(`Cannot create clone session ${sessionName} on ${source.path}: no data set matches ${datasets.join(' ')}`, { path: source.path });
  }
  // The clone writes these tracks on the destination: extents that cross track 0, the VTOC or
  // another data set would carry the source's label or VTOC over the destination's.
  guardDatasetWrites(source, view, chosen.map(writePlanOf), `clone (session ${sessionName})`);
  let includedCount = 0;
  for (const entry of chosen) {
    for (const t of datasetTrackIndexes(geometry, entry)) {
      if (included[t] === 0) includedCount++;
      included[t] = 1;
    }
  }
  return { included, includedCount, datasets: chosen.map((d) => d.name) };
}
