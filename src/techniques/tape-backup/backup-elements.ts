/**
 * The backup set: a list of elements (data sets chosen by name pattern, the whole volume, or named
 * block ranges of an FBA volume), each an ordered list of tape blocks, and the inverted index from a
 * volume unit (track or block) to the tape block that holds it.
 *
 * A tape block is one CKD track image (its used bytes, HA through EOT, per the size table V taken at
 * the start instant) or a group of up to FBA_BLOCKS_PER_TAPE_BLOCK consecutive FBA blocks of one
 * element. Slots are numbered in tape order, and the copy engine's state array has one per slot.
 */
import { UsageError } from '../../errors/snaptape-error.js';
import { unitCount } from '../../geometry/volume-geometry.js';
import type { Volume } from '../../volume/volume.js';
import { datasetTrackIndexes } from '../../vtoc/dataset-tracks.js';
import { readVtoc, type DatasetEntry } from '../../vtoc/vtoc-reader.js';
import { readVolumeLabel } from '../../vtoc/volume-label.js';
import { decodeEbcdicTrimmed } from '../../base/ebcdic.js';
import { datasetPatternRegExp, matchesAnyPattern } from '../../vtoc/dataset-pattern.js';

/** FBA blocks per tape block: 32 KiB blocks keep the tape's block count (and headers) small. */
export const FBA_BLOCKS_PER_TAPE_BLOCK = 64;

export type ElementKind = 'volume' | 'dataset' | 'blocks' | 'tracks';

/**
 * Most tape files an incremental backup writes: runs of changed units closer than a gap are merged
 * (the unchanged units between them are copied too, which a restore writes back unchanged) until
 * the runs fit. A standard label numbers files with 4 digits, and each file costs its labels.
 */
export const MAX_INCREMENTAL_RUNS = 1000;

export interface BlockRange {
  readonly firstBlock: number;
  readonly blockCount: number;
}

export interface BackupElement {
  /** The data set name written to the tape labels. */
  readonly name: string;
  readonly kind: ElementKind;
  /** First slot (tape block) of this element; its slots are consecutive. */
  readonly firstSlot: number;
  readonly slotCount: number;
  readonly dataset?: DatasetEntry;
  readonly range?: BlockRange;
}

export interface SlotTable {
  /** First volume unit (track or block) of each slot. */
  readonly firstUnit: Int32Array;
  /** Volume units in each slot (1 per CKD track). */
  readonly unitSpan: Int32Array;
  /** Bytes of each slot's tape block. */
  readonly lengths: Int32Array;
  /** Element of each slot. */
  readonly element: Int32Array;
  /** Slot holding each volume unit, or -1. */
  readonly unitToSlot: Int32Array;
}

export interface BackupSet {
  readonly volser: string;
  readonly elements: readonly BackupElement[];
  readonly slots: SlotTable;
}

export interface SelectOptions {
  /** Data set name patterns; none means the whole volume. */
  readonly datasets?: readonly string[];
  /** FBA block ranges; none means the whole volume. */
  readonly blockRanges?: readonly BlockRange[];
  /** Only these units (1 per changed unit): an incremental backup, in runs of consecutive units. */
  readonly changedUnits?: Uint8Array;
}

/**
 * The runs of changed units, merged across the smallest gaps until at most MAX_INCREMENTAL_RUNS
 * remain. A volume with no change still yields unit 0, so that every incremental tape holds a file.
 */
export function changedRuns(changed: Uint8Array): BlockRange[] {
  const runs: BlockRange[] = [];
  for (let u = 0; u < changed.length; u++) {
    if (!changed[u]) continue;
    const last = runs[runs.length - 1];
    if (last && last.firstBlock + last.blockCount === u) runs[runs.length - 1] = { firstBlock: last.firstBlock, blockCount: last.blockCount + 1 };
    else runs.push({ firstBlock: u, blockCount: 1 });
  }
  if (runs.length === 0) return [{ firstBlock: 0, blockCount: 1 }];
  let merged = runs;
  for (let gap = 1; merged.length > MAX_INCREMENTAL_RUNS; gap *= 2) {
    const next: BlockRange[] = [];
    for (const run of merged) {
      const last = next[next.length - 1];
      if (last && run.firstBlock - (last.firstBlock + last.blockCount) <= gap) {
        next[next.length - 1] = { firstBlock: last.firstBlock, blockCount: run.firstBlock + run.blockCount - last.firstBlock };
      } else next.push(run);
    }
    merged = next;
  }
  return merged;
}

/** An element's slots before they are placed in the slot table: parallel arrays, no object per slot. */
interface PendingSlots {
  readonly firstUnit: Int32Array;
  readonly unitSpan: Int32Array;
  readonly length: Int32Array;
}

/**
 * One slot per track, with its size now. Plain loops: this runs in the start instant's
 * synchronous stretch (a 3390-3 has 50,085 tracks), where every host write waits for it.
 */
function trackSlots(sizes: { get(track: number): number }, firstTrack: number, count: number, trackAt?: readonly number[]): PendingSlots {
  const slots = { firstUnit: new Int32Array(count), unitSpan: new Int32Array(count).fill(1), length: new Int32Array(count) };
  for (let i = 0; i < count; i++) {
    const track = trackAt ? (trackAt[i] as number) : firstTrack + i;
    slots.firstUnit[i] = track;
    slots.length[i] = sizes.get(track);
  }
  return slots;
}

function fbaVolser(volume: Volume): string {
  const block1 = volume.readBlocks(1, 1);
  return decodeEbcdicTrimmed(block1.subarray(0, 4)) === 'VOL1' ? decodeEbcdicTrimmed(block1.subarray(4, 10)) : 'FBA';
}

function ckdElements(volume: Volume, options: SelectOptions): Array<{ element: Omit<BackupElement, 'firstSlot' | 'slotCount'>; slots: PendingSlots }> {
  const geometry = volume.ckd;
  const sizes = volume.trackSizes();
  if (options.changedUnits) {
    return changedRuns(options.changedUnits).map((run) => ({
      element: { name: `TRACKS.T${String(run.firstBlock).padStart(7, '0')}`, kind: 'tracks', range: run },
      slots: trackSlots(sizes, run.firstBlock, run.blockCount),
    }));
  }
  if (!options.datasets || options.datasets.length === 0) {
    const volser = readVolumeLabel(volume).volser;
    return [{ element: { name: `FULLVOLUME.${volser}`, kind: 'volume' }, slots: trackSlots(sizes, 0, geometry.trackCount) }];
  }
  const patterns = options.datasets.map(datasetPatternRegExp);
  const chosen = readVtoc(volume).datasets.filter((d) => matchesAnyPattern(d.name, patterns));
  if (chosen.length === 0) throw new UsageError(`Cannot back up ${volume.path}: no data set matches ${options.datasets.join(' ')}`, { path: volume.path });
  return chosen.map((d) => {
    const tracks = datasetTrackIndexes(geometry, d);
    return { element: { name: d.name, kind: 'dataset', dataset: d }, slots: trackSlots(sizes, 0, tracks.length, tracks) };
  });
}

function fbaElements(volume: Volume, options: SelectOptions): Array<{ element: Omit<BackupElement, 'firstSlot' | 'slotCount'>; slots: PendingSlots }> {
  const blocks = unitCount(volume.geometry);
  if (options.changedUnits) options = { blockRanges: changedRuns(options.changedUnits) };
  const ranges = options.blockRanges && options.blockRanges.length > 0 ? options.blockRanges : [{ firstBlock: 0, blockCount: blocks }];
  return ranges.map((range, i) => {
    if (range.firstBlock < 0 || range.blockCount < 1 || range.firstBlock + range.blockCount > blocks) {
      throw new UsageError(`Cannot back up blocks ${range.firstBlock}+${range.blockCount} of ${volume.path}: the volume has blocks 0-${blocks - 1}`, {
        path: volume.path,
      });
    }
    const count = Math.ceil(range.blockCount / FBA_BLOCKS_PER_TAPE_BLOCK);
    const slots = { firstUnit: new Int32Array(count), unitSpan: new Int32Array(count), length: new Int32Array(count) };
    for (let i = 0; i < count; i++) {
      const b = range.firstBlock + i * FBA_BLOCKS_PER_TAPE_BLOCK;
      const span = Math.min(FBA_BLOCKS_PER_TAPE_BLOCK, range.firstBlock + range.blockCount - b);
      slots.firstUnit[i] = b;
      slots.unitSpan[i] = span;
      slots.length[i] = span * 512;
    }
    const name = ranges.length === 1 && range.blockCount === blocks ? `FULLVOLUME.${fbaVolser(volume)}` : `BLOCKS.R${String(i + 1).padStart(4, '0')}`;
    return { element: { name, kind: ranges.length === 1 && range.blockCount === blocks ? 'volume' : 'blocks', range }, slots };
  });
}

/** Chooses the elements and builds the slot table, with the sizes as they are now. */
export function selectBackupSet(volume: Volume, options: SelectOptions): BackupSet {
  if (volume.geometry.kind === 'ckd' && options.blockRanges && options.blockRanges.length > 0) {
    throw new UsageError(`Cannot back up block ranges of ${volume.path}: it is a CKD volume (choose data sets with --datasets)`, { path: volume.path });
  }
  if (volume.geometry.kind === 'fba' && options.datasets && options.datasets.length > 0) {
    throw new UsageError(`Cannot back up data sets of ${volume.path}: it is an FBA volume, which has no VTOC (choose block ranges with --blocks)`, {
      path: volume.path,
    });
  }
  const chosen = volume.geometry.kind === 'ckd' ? ckdElements(volume, options) : fbaElements(volume, options);
  const total = chosen.reduce((n, c) => n + c.slots.firstUnit.length, 0);
  const slots: SlotTable = {
    firstUnit: new Int32Array(total),
    unitSpan: new Int32Array(total),
    lengths: new Int32Array(total),
    element: new Int32Array(total),
    unitToSlot: new Int32Array(unitCount(volume.geometry)).fill(-1),
  };
  const elements: BackupElement[] = [];
  let next = 0;
  chosen.forEach((c, e) => {
    const count = c.slots.firstUnit.length;
    elements.push({ ...c.element, firstSlot: next, slotCount: count });
    slots.firstUnit.set(c.slots.firstUnit, next);
    slots.unitSpan.set(c.slots.unitSpan, next);
    slots.lengths.set(c.slots.length, next);
    slots.element.fill(e, next, next + count);
    for (let i = 0; i < count; i++, next++) {
      const first = c.slots.firstUnit[i] as number;
      const end = first + (c.slots.unitSpan[i] as number);
      for (let u = first; u < end; u++) {
        if (slots.unitToSlot[u] !== -1) throw new UsageError(`Cannot back up ${volume.path}: unit ${u} belongs to two elements`, { path: volume.path });
        slots.unitToSlot[u] = next;
      }
    }
  });
  const volser = volume.geometry.kind === 'ckd' ? readVolumeLabel(volume).volser : fbaVolser(volume);
  return { volser, elements, slots };
}

/**
 * Size of a CKD element of fixed-length blocks in fixed track format, without the size table:
 * S = (BL+K+C)·n·(TR−1) + (BL+K+C)·R, plus what each tape block carries besides: the HA, R0 and
 * end marker of every track (29 bytes), and the EOF record's count field (C) that ends a
 * sequential data set's data. TR tracks, n blocks per full track, R blocks on the last track.
 */
export function fixedFormatElementBytes(options: {
  blockBytes: number;
  keyBytes: number;
  blocksPerTrack: number;
  tracks: number;
  blocksOnLastTrack: number;
  endOfFileRecord: boolean;
}): number {
  const COUNT_BYTES = 8;
  const TRACK_FRAME_BYTES = 29;
  const perBlock = options.blockBytes + options.keyBytes + COUNT_BYTES;
  return (
    perBlock * options.blocksPerTrack * (options.tracks - 1) +
    perBlock * options.blocksOnLastTrack +
    TRACK_FRAME_BYTES * options.tracks +
    (options.endOfFileRecord ? COUNT_BYTES : 0)
  );
}
