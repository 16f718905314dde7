/**
 * Allocates and deletes data sets (native-layout/vtoc-procedures.md): picks free tracks (first fit, whole cylinders
 * for CYL requests, up to 16 extents), formats them (an EOF record on the first track, or an empty
 * PDS directory), writes the Format-3s and then the Format-1, and brings the Format-4 and Format-5
 * up to date. A volume without a VTOC (made by dasdinit) gets one where its VOL1 points, if empty.
 */
import { DatasetError, NoSpaceError, UsageError, VtocError } from '../errors/snaptape-error.js';
import { assert } from '../base/assert.js';
import { trackIndexOf, type Cchhr } from '../geometry/cchh.js';
import { trackBalanceBytes } from '../geometry/track-capacity.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import { EMPTY_TRACK_BYTES } from '../ckd/track-layout.js';
import type { NewRecord, Volume } from '../volume/volume.js';
import { dscbDateOf } from './dscb-date.js';
import { dscbFormatId, encodeFormat1, encodeFormat3, F1_EXTENT_SLOTS, F3_EXTENT_SLOTS, type Format1 } from './dscb-codec.js';
import { DSCB_FORMAT } from './dscb-layouts.js';
import { checkDatasetName, DSORG_BITS, type Dsorg } from './dataset-attributes.js';
import { extentFromRun, EXTENT_TYPE, NULL_CCHHR, type Extent, type TrackRun } from './extent.js';
import { freeCylinderRuns, freeRuns, usedTrackMap } from './free-space.js';
import { guardDatasetWrites, writePlanOf } from './dataset-write-guard.js';
import { readVolumeLabel } from './volume-label.js';
import { findDataset, readVtoc, type DatasetEntry, type VtocView } from './vtoc-reader.js';
import { defaultVtocTracks } from './volume-init.js';
import { EMPTY_DSCB, formatVtoc, refreshVtocSummary, writeDscb } from './vtoc-writer.js';

/** The most extents a data set may have on one volume (OS rule for sequential data sets). */
export const MAX_EXTENTS_PER_VOLUME = 16;
/** PDS directory block: 8-byte key, 256 bytes of data. */
const DIRECTORY_KEY_BYTES = 8;
const DIRECTORY_DATA_BYTES = 256;
const SYSTEM_CODE = 'SNAPTAPE';
const DSIND_LAST_VOLUME = 0x80;
const DSIND_BLKSIZE_MULTIPLE_OF_8 = 0x20;
const SCALO_TRACKS = 0x80_000000;
const SCALO_CYLINDERS = 0xc0_000000;

export interface AllocateRequest {
  readonly name: string;
  readonly tracks?: number;
  readonly cylinders?: number;
  readonly dsorg: Dsorg;
  readonly recfm: number;
  readonly recordLength: number;
  readonly blockSize: number;
  readonly secondary?: number;
  readonly directoryBlocks?: number;
}

/** Gives the volume a VTOC where VOL1 points, when it has none and those tracks are empty. */
export function ensureVtoc(volume: Volume): VtocView {
  try {
    return readVtoc(volume);
  } catch (error) {
    if (!(error instanceof VtocError)) throw error;
    const geometry = volume.ckd;
    const pointer = readVolumeLabel(volume).vtocPointer;
    const first = trackIndexOf(geometry, pointer);
    const count = defaultVtocTracks(geometry.cylinders, geometry.heads);
    const sizes = volume.trackSizes();
    const empty =
      first > 0 &&
      pointer.record === 1 &&
      first + count <= geometry.trackCount &&
      Array.from({ length: count }, (_, i) => sizes.get(first + i)).every((b) => b === EMPTY_TRACK_BYTES);
    if (!empty) throw error;
    formatVtoc(volume, { firstTrack: first, trackCount: count });
    return readVtoc(volume);
  }
}

/**
 * First fit of `trackCount` tracks in the free `runs` (disk order): the first run that holds them
 * all, else the first runs in disk order, up to MAX_EXTENTS_PER_VOLUME of them; undefined when
 * they do not hold it.
 */
export function firstFitRuns(runs: readonly TrackRun[], trackCount: number): TrackRun[] | undefined {
  const single = runs.find((r) => r.trackCount >= trackCount);
  if (single) return [{ firstTrack: single.firstTrack, trackCount }];
  const picked: TrackRun[] = [];
  let needed = trackCount;
  for (const r of runs) {
    if (needed === 0 || picked.length === MAX_EXTENTS_PER_VOLUME) break;
    const take = Math.min(r.trackCount, needed);
    picked.push({ firstTrack: r.firstTrack, trackCount: take });
    needed -= take;
  }
  return needed > 0 ? undefined : picked;
}

function pickRuns(geometry: CkdGeometry, used: Uint8Array, volser: string, request: AllocateRequest, trackCount: number): TrackRun[] {
  const runs = request.cylinders !== undefined ? freeCylinderRuns(geometry, used) : freeRuns(used);
  const picked = firstFitRuns(runs, trackCount);
  if (!picked) {
    const total = runs.reduce((n, r) => n + r.trackCount, 0);
    const largest = runs.reduce((m, r) => Math.max(m, r.trackCount), 0);
    throw new NoSpaceError(
      `Cannot allocate ${request.name} on ${volser}: it needs ${trackCount} tracks; the volume has ${total} free in ${runs.length} extents (largest ${largest}), and a data set may have at most ${MAX_EXTENTS_PER_VOLUME} extents`,
      { volser, tracks: trackCount, freeTracks: total },
    );
  }
  return picked;
}

function requestedTracks(geometry: CkdGeometry, request: AllocateRequest): number {
  return request.cylinders !== undefined ? request.cylinders * geometry.heads : (request.tracks ?? 0);
}

/** Format-3 DSCBs a data set of this many extents needs beside its Format-1. */
export function format3sFor(extentCount: number): number {
  return Math.ceil(Math.max(0, extentCount - F1_EXTENT_SLOTS) / F3_EXTENT_SLOTS);
}

/**
 * Checks, without writing anything, that these data sets can be allocated one after another on the
 * volume, after the data sets named in `freeing` are deleted (a restore that replaces one): tracks
 * by the same first fit as `allocateDataset`, and DSCBs. Throws the NoSpaceError allocating would.
 */
export function checkAllocationsFit(volume: Volume, requests: readonly AllocateRequest[], freeing: readonly string[] = []): void {
  const geometry = volume.ckd;
  const view = readVtoc(volume);
  const freed = view.datasets.filter((d) => freeing.includes(d.name));
  const used = usedTrackMap(geometry, { ...view, datasets: view.datasets.filter((d) => !freeing.includes(d.name)) });
  let freeDscbs = view.slots.filter((s) => dscbFormatId(s.dscb) === DSCB_FORMAT.empty).length + freed.reduce((n, d) => n + 1 + d.format3Addresses.length, 0);
  for (const request of requests) {
    const runs = pickRuns(geometry, used, view.label.volser, request, requestedTracks(geometry, request));
    for (const r of runs) used.fill(1, r.firstTrack, r.firstTrack + r.trackCount);
    const needed = 1 + format3sFor(runs.length);
    if (freeDscbs < needed)
      throw new NoSpaceError(`Cannot allocate ${request.name} on ${view.label.volser}: the VTOC has ${freeDscbs} free DSCBs left and needs ${needed}`, {
        volser: view.label.volser,
      });
    freeDscbs -= needed;
  }
}

function firstTrackRecords(geometry: CkdGeometry, request: AllocateRequest): NewRecord[] {
  const eof: NewRecord = { key: Buffer.alloc(0), data: Buffer.alloc(0) };
  if (request.dsorg !== 'PO') return [eof];
  const blocks = request.directoryBlocks ?? 1;
  if (blocks < 1 || blocks > geometry.family.directoryBlocksPerTrack) {
    throw new UsageError(`Cannot allocate ${request.name}: ${blocks} directory blocks must be 1-${geometry.family.directoryBlocksPerTrack} (one track)`);
  }
  const firstData = Buffer.alloc(DIRECTORY_DATA_BYTES);
  firstData.writeUInt16BE(14, 0);
  firstData.fill(0xff, 2, 10);
  const records: NewRecord[] = [{ key: Buffer.alloc(DIRECTORY_KEY_BYTES, 0xff), data: firstData }];
  for (let i = 1; i < blocks; i++) records.push({ key: Buffer.alloc(DIRECTORY_KEY_BYTES), data: Buffer.alloc(DIRECTORY_DATA_BYTES) });
  return [...records, eof];
}

function formatTracks(volume: Volume, runs: readonly TrackRun[], first: NewRecord[]): void {
  const sizes = volume.trackSizes();
  runs.forEach((run, i) => {
    for (let t = run.firstTrack; t < run.firstTrack + run.trackCount; t++) {
      if (i === 0 && t === run.firstTrack) volume.writeTrackRecords(t, first);
      else if (sizes.get(t) !== EMPTY_TRACK_BYTES) volume.writeTrackRecords(t, []);
    }
  });
}

/** Allocates a data set on a CKD volume (tracks or cylinders, with its DCB) and writes its Format 1 DSCB into the VTOC, making a VTOC first if the volume has none. Throws UsageError for a bad name or size, DatasetError when the name exists, NoSpaceError when no free extents hold it. */
export function allocateDataset(volume: Volume, request: AllocateRequest, now: Date = new Date()): DatasetEntry {
  const geometry = volume.ckd;
  const name = checkDatasetName(request.name);
  const units = requestedTracks(geometry, request);
  if (!Number.isInteger(units) || units < 1) throw new UsageError(`Cannot allocate ${name}: give a positive --tracks or --cyls`);
  const view = ensureVtoc(volume);
  if (findDataset(view, name)) throw new DatasetError(`Cannot allocate ${name} on ${view.label.volser}: the data set exists`, { dsname: name });
  const runs = pickRuns(geometry, usedTrackMap(geometry, view), view.label.volser, { ...request, name }, units);
  const type = request.cylinders !== undefined ? EXTENT_TYPE.cylinderBoundary : EXTENT_TYPE.data;
  const extents: Extent[] = runs.map((r, i) => extentFromRun(geometry, r, i, type));
  const format3Count = format3sFor(extents.length);
  const freeSlots = view.slots.filter((s) => dscbFormatId(s.dscb) === DSCB_FORMAT.empty);
  if (freeSlots.length < 1 + format3Count) {
    throw new NoSpaceError(`Cannot allocate ${name} on ${view.label.volser}: the VTOC has ${freeSlots.length} free DSCBs and needs ${1 + format3Count}`, {
      volser: view.label.volser,
    });
  }
  const [f1Slot, ...f3Slots] = freeSlots.slice(0, 1 + format3Count);
  // The runs come from the free space, so this holds unless the VTOC reads wrong; it is the same
  // check as every other data set write, made before the first byte.
  guardDatasetWrites(volume, view, [{ dsname: name, extents }], 'allocate');
  const firstRecords = firstTrackRecords(geometry, request);
  formatTracks(volume, runs, firstRecords);
  const shapes = firstRecords.map((r) => ({ keyLength: r.key.length, dataLength: r.data.length }));
  writeDatasetDscbs(
    volume,
    { format1: f1Slot!.address, format3s: f3Slots.map((s) => s.address) },
    {
      dsname: name,
      volser: view.label.volser,
      volumeSequence: 1,
      created: dscbDateOf(now),
      expires: null,
      directoryBytesUsed: request.dsorg === 'PO' ? 14 : 0,
      systemCode: SYSTEM_CODE,
      dsorg: DSORG_BITS[request.dsorg],
      recfm: request.recfm,
      blockSize: request.blockSize,
      recordLength: request.recordLength,
      keyLength: 0,
      dsind: DSIND_LAST_VOLUME | (request.blockSize % 8 === 0 ? DSIND_BLKSIZE_MULTIPLE_OF_8 : 0),
      spaceAllocation: (request.cylinders !== undefined ? SCALO_CYLINDERS : SCALO_TRACKS) + (request.secondary ?? 0),
      lastUsed: firstRecords.length,
      trackBalance: trackBalanceBytes(geometry.family, shapes),
    },
    extents,
  );
  const after = refreshVtocSummary(volume);
  const entry = findDataset(after, name);
  if (!entry) throw new VtocError(`Cannot allocate ${name}: its Format-1 is not in the VTOC after writing it`, { dsname: name });
  return entry;
}

/** Where a data set's DSCBs go: its Format-1, and one Format-3 per 13 extents past the first 3. */
export interface DscbPlaces {
  readonly format1: Cchhr;
  readonly format3s: readonly Cchhr[];
}

/**
 * Writes one data set's Format-1 (from `format1`, its extent slots and Format-3 pointer filled in
 * from `extents` and `places`) and its Format-3 chain; the caller refreshes the VTOC summary after.
 */
export function writeDatasetDscbs(
  volume: Volume,
  places: DscbPlaces,
  format1: Omit<Format1, 'extents' | 'format3Pointer' | 'extentCount'>,
  extents: readonly Extent[],
): void {
  assert(places.format3s.length === format3sFor(extents.length), `${format1.dsname} has a place for each Format-3 it needs`);
  // Format-3s first, so that the Format-1 never points at a missing chain.
  for (let i = places.format3s.length - 1; i >= 0; i--) {
    const chunk = extents.slice(F1_EXTENT_SLOTS + i * F3_EXTENT_SLOTS, F1_EXTENT_SLOTS + (i + 1) * F3_EXTENT_SLOTS);
    writeDscb(volume, places.format3s[i]!, encodeFormat3({ extents: chunk, nextPointer: places.format3s[i + 1] ?? NULL_CCHHR }));
  }
  writeDscb(
    volume,
    places.format1,
    encodeFormat1({ ...format1, extentCount: extents.length, extents: extents.slice(0, F1_EXTENT_SLOTS), format3Pointer: places.format3s[0] ?? NULL_CCHHR }),
  );
}

/**
 * Deletes data sets from the VTOC (their tracks keep their bytes). All are found and checked
 * before the first DSCB is written: a data set whose extents cross track 0, the VTOC or another
 * data set is refused. Which of two overlapping claims is true is not knowable, and a delete
 * rewrites the free space from those claims, so the choice is left to whoever reads `check`.
 */
export function deleteDatasets(volume: Volume, names: readonly string[]): void {
  const view = readVtoc(volume);
  const entries = names.map((name) => {
    const entry = findDataset(view, checkDatasetName(name));
    if (!entry) throw new DatasetError(`Cannot delete ${name.toUpperCase()} on ${view.label.volser}: no such data set`, { dsname: name });
    return entry;
  });
  guardDatasetWrites(volume, view, entries.map(writePlanOf), 'delete');
  for (const entry of entries) {
    writeDscb(volume, entry.format1Address, EMPTY_DSCB);
    for (const a of entry.format3Addresses) writeDscb(volume, a, EMPTY_DSCB);
  }
  refreshVtocSummary(volume);
}

/** Deletes a data set from the VTOC and returns its extents to the free space. Throws DatasetError when the volume has no data set of that name. */
export function deleteDataset(volume: Volume, name: string): void {
  deleteDatasets(volume, [name]);
}
