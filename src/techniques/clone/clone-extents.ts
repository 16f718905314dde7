/**
 * Which units of the source take part in a clone. Without data sets: every unit. In extent mode
 * (CKD, `datasets` given as names or patterns, vtoc/dataset-pattern.ts): only the tracks of
 * the chosen data sets' extents, read from the source's VTOC at CREATE. The others keep the
 * destination's own data, have no PB and no IND bit, and are never copied. Where each unit goes on
 * the destination (`targetUnits`) is decided by clone-catalog.ts.
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
  /**
   * The destination track of each unit: the same unit, or in extent mode where its data set was
   * placed on the destination (clone-catalog.ts), when that place was taken there.
   */
  readonly targetUnits: Int32Array;
}

/** Every unit to the same unit of the destination. */
export function sameUnits(unitCount: number): Int32Array {
  const units = new Int32Array(unitCount);
  for (let u = 0; u < unitCount; u++) units[u] = u;
  return units;
}

/** True when some unit that takes part goes to another unit of the destination. */
export function isRelocated(extent: CloneExtent): boolean {
  for (let u = 0; u < extent.included.length; u++) if (extent.included[u] === 1 && extent.targetUnits[u] !== u) return true;
  return false;
}

/** The runs of units that go elsewhere, as [first unit, first destination unit, units] (the record's form). */
export function relocatedRuns(extent: CloneExtent): [number, number, number][] {
  const runs: [number, number, number][] = [];
  for (let u = 0; u < extent.included.length; u++) {
    const to = extent.targetUnits[u] as number;
    if (extent.included[u] !== 1 || to === u) continue;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[2] === u && last[1] + last[2] === to) last[2]++;
    else runs.push([u, to, 1]);
  }
  return runs;
}

/** The destination units from the record's runs (clone-record.ts `relocated`). */
export function unitsFromRuns(unitCount: number, runs: readonly (readonly [number, number, number])[]): Int32Array {
  const units = sameUnits(unitCount);
  for (const [from, to, count] of runs) for (let i = 0; i < count; i++) units[from + i] = to + i;
  return units;
}

export function selectCloneUnits(source: Volume, datasets: readonly string[] | undefined, sessionName: string): CloneExtent {
  const included = new Uint8Array(source.unitCount);
  if (!datasets || datasets.length === 0) {
    included.fill(1);
    return { included, includedCount: included.length, datasets: [], targetUnits: sameUnits(included.length) };
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
  return { included, includedCount, datasets: chosen.map((d) => d.name), targetUnits: sameUnits(included.length) };
}
