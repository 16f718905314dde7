/**
 * What a volume holds, as `ls` shows it: its label, each data set with its attributes and extents,
 * and the free space the VTOC implies. Plain data, read from the label and the VTOC.
 */
import type { Volume } from '../volume/volume.js';
import { isNoVtocError, readVtoc } from './vtoc-reader.js';
import { readVolumeLabel } from './volume-label.js';
import { summarizeFreeSpace, usedTrackMap, type FreeSpaceSummary } from './free-space.js';
import { dsorgName, recfmName } from './dataset-attributes.js';
import { formatDscbDate } from './dscb-date.js';
import { extentRun } from './extent.js';
import { decodeEbcdicTrimmed } from '../base/ebcdic.js';

export interface ExtentListing {
  readonly sequence: number;
  readonly begin: { readonly cylinder: number; readonly head: number };
  readonly end: { readonly cylinder: number; readonly head: number };
  readonly tracks: number;
}

export interface DatasetListing {
  readonly name: string;
  readonly created: string;
  readonly dsorg: string;
  readonly recfm: string;
  readonly lrecl: number;
  readonly blksize: number;
  readonly keyLength: number;
  readonly tracks: number;
  /** Percent of the allocation in use, as dasdls -info computes it. */
  readonly percentUsed: number;
  readonly extents: readonly ExtentListing[];
  readonly secondary: { readonly unit: string; readonly quantity: number };
}

export interface VolumeListing {
  readonly path: string;
  readonly format: 'ckd' | 'fba';
  readonly deviceType: string;
  readonly volser: string;
  readonly cylinders?: number;
  readonly heads?: number;
  readonly tracks?: number;
  readonly blocks?: number;
  readonly vtoc: { readonly cylinder: number; readonly head: number; readonly record: number; readonly tracks: number; readonly freeDscbs: number } | null;
  /** Why there is no VTOC listing (dasdinit volumes have none). */
  readonly vtocProblem?: string;
  readonly datasets: readonly DatasetListing[];
  readonly freeSpace: FreeSpaceSummary | null;
}

const SCALO_UNITS: Record<number, string> = { 0x00: 'ABSTR', 0x40: 'BLK', 0x80: 'TRK', 0xc0: 'CYL' };

/** Describes an open volume as `snaptape ls` shows it: geometry, volume label, data sets with their extents, and free space. Throws VtocError when the VTOC cannot be read. */
export function describeVolume(volume: Volume): VolumeListing {
  const geometry = volume.geometry;
  if (geometry.kind === 'fba') {
    const block1 = volume.readBlocks(1, 1);
    const labelled = decodeEbcdicTrimmed(block1.subarray(0, 4)) === 'VOL1';
    return {
      path: volume.path,
      format: 'fba',
      deviceType: 'fba',
      volser: labelled ? decodeEbcdicTrimmed(block1.subarray(4, 10)) : '',
      blocks: geometry.blockCount,
      vtoc: null,
      datasets: [],
      freeSpace: null,
    };
  }
  const base = {
    path: volume.path,
    format: 'ckd' as const,
    deviceType: geometry.typeName,
    cylinders: geometry.cylinders,
    heads: geometry.heads,
    tracks: geometry.trackCount,
  };
  const label = readVolumeLabel(volume);
  let view;
  try {
    view = readVtoc(volume);
  } catch (error) {
    // Only a volume without a VTOC is listed without one; a damaged VTOC is an error.
    if (!isNoVtocError(error)) throw error;
    return { ...base, volser: label.volser, vtoc: null, vtocProblem: error.message, datasets: [], freeSpace: null };
  }
  const datasets: DatasetListing[] = view.datasets.map((d) => {
    const f1 = d.format1;
    const lastTrackFraction = 1 - f1.trackBalance / geometry.trackSlotBytes;
    const used = ((Math.floor(f1.lastUsed / 256) + lastTrackFraction) * 100) / Math.max(1, d.trackCount);
    return {
      name: d.name,
      created: formatDscbDate(f1.created),
      dsorg: dsorgName(f1.dsorg),
      recfm: recfmName(f1.recfm),
      lrecl: f1.recordLength,
      blksize: f1.blockSize,
      keyLength: f1.keyLength,
      tracks: d.trackCount,
      percentUsed: Math.round(used),
      extents: d.extents.map((e) => ({ sequence: e.sequence, begin: e.begin, end: e.end, tracks: extentRun(geometry, e).trackCount })),
      secondary: { unit: SCALO_UNITS[(f1.spaceAllocation >>> 24) & 0xc0] ?? 'CYL', quantity: f1.spaceAllocation & 0xffffff },
    };
  });
  return {
    ...base,
    volser: label.volser,
    vtoc: { ...view.format4Address, tracks: view.vtocRun.trackCount, freeDscbs: view.format4.freeDscbs },
    datasets,
    freeSpace: summarizeFreeSpace(geometry, usedTrackMap(geometry, view)),
  };
}
