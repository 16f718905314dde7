/**
 * The first two steps of the host's snapshot protocol (issue 6), kept apart from the copy:
 * locate the source (the whole volume, or the chosen data sets through its VTOC) and its extents;
 * then locate or allocate a target of enough extent. Both must be mapped volumes of one subsystem
 * folder, because pointers only mean something inside one pool.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { DatasetError, NoSpaceError, UsageError } from '../../errors/snaptape-error.js';
import { isMappedVolumePath, subsystemDirOf } from '../../subsystem/mapped-volumes.js';
import { allocateDataset } from '../../vtoc/dataset-allocator.js';
import { datasetRuns } from '../../vtoc/dataset-tracks.js';
import { guardDatasetWrites, writePlanOf } from '../../vtoc/dataset-write-guard.js';
import { readVtoc, findDataset, type DatasetEntry } from '../../vtoc/vtoc-reader.js';
import type { TrackRun } from '../../vtoc/extent.js';
import type { Volume } from '../../volume/volume.js';
import { datasetPatternRegExp, matchesAnyPattern } from '../../vtoc/dataset-pattern.js';
import type { DatasetPair } from './snapshot-tokens.js';

export interface LocatedSource {
  readonly mode: 'volume' | 'datasets';
  readonly datasets: readonly DatasetEntry[];
}

/** Checks that both paths are mapped volumes of one folder; returns the folder. */
export function checkSameSubsystem(source: string, target: string, options: { targetMayBeNew: boolean }): string {
  if (!isMappedVolumePath(source))
    throw new UsageError(`Cannot snapshot ${source}: it is not a mapped volume (make one with: snaptape init <dir>/<name> --mapped)`, { path: source });
  const dir = subsystemDirOf(source);
  if (subsystemDirOf(target) !== dir)
    throw new UsageError(`Cannot snapshot ${source} to ${target}: a snapshot target must be in the same subsystem folder (${dir})`, { path: target });
  if (existsSync(target) && !isMappedVolumePath(target))
    throw new UsageError(`Cannot snapshot to ${target}: it exists and is not a mapped volume`, { path: target });
  if (!existsSync(target) && !options.targetMayBeNew)
    throw new UsageError(`Cannot snapshot data sets to ${target}: the target volume does not exist (create it with: snaptape init ${target} --mapped ...)`, {
      path: target,
    });
  if (subsystemDirOf(source) === subsystemDirOf(target) && source.replace(/\/+$/, '').split('/').pop() === target.replace(/\/+$/, '').split('/').pop()) {
    throw new UsageError(`Cannot snapshot ${source} onto itself`, { path: source });
  }
  return dir;
}

export function locateSource(volume: Volume, patterns: readonly string[] | undefined): LocatedSource {
  if (!patterns || patterns.length === 0) return { mode: 'volume', datasets: [] };
  const regexps = patterns.map(datasetPatternRegExp);
  const datasets = readVtoc(volume).datasets.filter((d) => matchesAnyPattern(d.name, regexps));
  if (datasets.length === 0)
    throw new DatasetError(`Cannot snapshot data sets ${patterns.join(' ')} of ${volume.path}: no data set matches`, { path: volume.path });
  return { mode: 'datasets', datasets };
}

/**
 * Finds each data set on the target with at least as many tracks, or allocates it there with the
 * source's attributes. Returns the pairs of track runs, source to target, in logical order.
 */
export function locateTargetDatasets(source: Volume, target: Volume, datasets: readonly DatasetEntry[]): DatasetPair[] {
  const s = source.ckd;
  const t = target.ckd;
  if (s.family !== t.family)
    throw new UsageError(`Cannot snapshot data sets of ${source.path} to ${target.path}: ${s.family.family} tracks cannot go on a ${t.family.family}`, {
      path: target.path,
    });
  // The copy writes the target data sets' tracks: those that exist are checked together before any
  // allocation (which checks its own new extents).
  const targetView = readVtoc(target);
  const existing = datasets.flatMap((d) => findDataset(targetView, d.name) ?? []);
  guardDatasetWrites(target, targetView, existing.map(writePlanOf), 'snapshot into');
  return datasets.map((d) => {
    let onTarget = findDataset(readVtoc(target), d.name);
    if (onTarget && onTarget.trackCount < d.trackCount) {
      throw new NoSpaceError(`Cannot snapshot ${d.name} to ${target.path}: the target data set has ${onTarget.trackCount} tracks, the source ${d.trackCount}`, {
        path: target.path,
        dsname: d.name,
      });
    }
    if (!onTarget) {
      const f1 = d.format1;
      const dsorg = (f1.dsorg & 0x0200) !== 0 ? 'PO' : (f1.dsorg & 0x2000) !== 0 ? 'DA' : 'PS';
      onTarget = allocateDataset(target, {
        name: d.name,
        tracks: d.trackCount,
        dsorg,
        recfm: f1.recfm,
        recordLength: f1.recordLength,
        blockSize: f1.blockSize,
      });
    }
    return { name: d.name, sourceRuns: datasetRuns(s, d), targetRuns: datasetRuns(t, onTarget), trackCount: d.trackCount };
  });
}

/** A digest of what define saw: geometry and every pair's runs. */
export function fingerprintOf(parts: { sourceTracks: number; targetTracks: number; pairs: readonly DatasetPair[] }): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** Track indexes of runs in logical order. */
export function tracksOf(runs: readonly TrackRun[]): number[] {
  const out: number[] = [];
  for (const r of runs) for (let i = 0; i < r.trackCount; i++) out.push(r.firstTrack + i);
  return out;
}
