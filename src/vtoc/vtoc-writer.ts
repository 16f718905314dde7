/**
 * Writes the VTOC: formats a new one (F4 in R1, F5 in R2, the rest Format-0), writes single DSCBs
 * by update write, and keeps the Format-4 counters and the Format-5 free-space chain exact after
 * every change (`refreshVtocSummary`).
 *
 * Decision: a Format-5 relative track is 16 bits, so on volumes of more than 65,535 tracks
 * (3390-9 and larger) free space would need Format-7 DSCBs; there the Format-5 is left empty with
 * DS4VTOCI 0x80 ("rebuild free space"), as dasdload does, and free space is computed from extents.
 */
import { cchhOf, type Cchhr } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { NewRecord, Volume } from '../volume/volume.js';
import { NoSpaceError } from '../errors/snaptape-error.js';
import { EMPTY_FORMAT5, encodeFormat4, encodeFormat5, dscbFormatId, splitDscb, VTOCI_FREE_SPACE_INVALID, F5_EXTENT_SLOTS, type Format4 } from './dscb-codec.js';
import { DSCB_BYTES, DSCB_DATA_BYTES, DSCB_FORMAT, DSCB_KEY_BYTES } from './dscb-layouts.js';
import { decodeFormat5 } from './dscb-codec.js';
import { extentFromRun, EXTENT_TYPE, NULL_CCHHR, isNullCchhr, type TrackRun, type FreeExtent } from './extent.js';
import { freeRuns, usedTrackMap } from './free-space.js';
import { isNoVtocError, readVtoc, type DscbSlot, type VtocView } from './vtoc-reader.js';

/** A free-extent's relative track is 16 bits (native-layout/dscb-format5.md). */
const MAX_FORMAT5_TRACKS = 0xffff;

export const EMPTY_DSCB = Buffer.alloc(DSCB_BYTES);

export function writeDscb(volume: Volume, address: Cchhr, dscb: Buffer): void {
  const { key, data } = splitDscb(dscb);
  volume.updateRecord(address, data, key);
}

function addressEquals(a: Cchhr, b: Cchhr): boolean {
  return a.cylinder === b.cylinder && a.head === b.head && a.record === b.record;
}

/** Formats `run` as a VTOC and points the Format-4 at it. VOL1 must already point at its R1. */
export function formatVtoc(volume: Volume, run: TrackRun): void {
  const geometry = volume.ckd;
  const perTrack = geometry.family.dscbsPerTrack;
  const emptyRecords: NewRecord[] = Array.from({ length: perTrack }, () => ({ key: Buffer.alloc(DSCB_KEY_BYTES), data: Buffer.alloc(DSCB_DATA_BYTES) }));
  for (let t = run.firstTrack; t < run.firstTrack + run.trackCount; t++) volume.writeTrackRecords(t, emptyRecords);
  const first = cchhOf(geometry, run.firstTrack);
  const endHead = cchhOf(geometry, run.firstTrack + run.trackCount - 1).head;
  const type = endHead === geometry.heads - 1 ? EXTENT_TYPE.cylinderBoundary : EXTENT_TYPE.data;
  const f4: Format4 = {
    highestFormat1: { ...first, record: 2 },
    freeDscbs: run.trackCount * perTrack - 2,
    nextAlternate: Buffer.from([geometry.cylinders >> 8, geometry.cylinders & 0xff, 0, 0]),
    vtocIndicators: 0,
    cylinders: geometry.cylinders,
    heads: geometry.heads,
    trackLength: geometry.family.capacity.trackLengthBytes,
    deviceFlags: 0x30,
    dscbsPerTrack: perTrack,
    directoryBlocksPerTrack: geometry.family.directoryBlocksPerTrack,
    vtocExtent: extentFromRun(geometry, run, 0, type),
  };
  writeDscb(volume, { ...first, record: 1 }, encodeFormat4(f4));
  writeDscb(volume, { ...first, record: 2 }, encodeFormat5(EMPTY_FORMAT5));
  refreshVtocSummary(volume);
}

function freeExtentOf(geometry: CkdGeometry, run: TrackRun): FreeExtent {
  return { relativeTrack: run.firstTrack, cylinders: Math.floor(run.trackCount / geometry.heads), tracks: run.trackCount % geometry.heads };
}

/** Format-5 DSCBs in chain order, starting at the one right after the Format-4. */
function format5Chain(view: VtocView): DscbSlot[] {
  const chain: DscbSlot[] = [];
  const firstAddress = { ...view.format4Address, record: view.format4Address.record + 1 };
  let slot = view.slots.find((s) => addressEquals(s.address, firstAddress) && dscbFormatId(s.dscb) === DSCB_FORMAT.f5);
  while (slot && chain.length < view.slots.length) {
    chain.push(slot);
    const next = decodeFormat5(slot.dscb).nextPointer;
    slot = isNullCchhr(next) ? undefined : view.slots.find((s) => addressEquals(s.address, next) && dscbFormatId(s.dscb) === DSCB_FORMAT.f5);
  }
  return chain;
}

/** Rewrites the Format-5 chain from the free space and the Format-4 counters from the slots. */
export function refreshVtocSummary(volume: Volume): VtocView {
  const geometry = volume.ckd;
  let view = readVtoc(volume);
  const chain = format5Chain(view);
  const runs = freeRuns(usedTrackMap(geometry, view));
  const maintainable = geometry.trackCount <= MAX_FORMAT5_TRACKS;
  const groups: FreeExtent[][] = [];
  if (maintainable)
    for (let i = 0; i < runs.length; i += F5_EXTENT_SLOTS) groups.push(runs.slice(i, i + F5_EXTENT_SLOTS).map((r) => freeExtentOf(geometry, r)));
  if (groups.length === 0) groups.push([]);
  // Reuse the chain's DSCBs, then take Format-0 slots; free the chain's surplus.
  const emptySlots = view.slots.filter((s) => dscbFormatId(s.dscb) === DSCB_FORMAT.empty && !s.dscb.some((b) => b !== 0));
  const addresses: Cchhr[] = chain.map((s) => s.address).slice(0, groups.length);
  while (addresses.length < groups.length) {
    const slot = emptySlots.shift();
    if (!slot) throw new NoSpaceError(`Cannot record free space on ${volume.path}: the VTOC has no free DSCB for another Format-5`, { path: volume.path });
    addresses.push(slot.address);
  }
  for (const surplus of chain.slice(groups.length)) writeDscb(volume, surplus.address, EMPTY_DSCB);
  groups.forEach((free, i) => {
    const address = addresses[i] as Cchhr;
    writeDscb(volume, address, encodeFormat5({ free, nextPointer: addresses[i + 1] ?? NULL_CCHHR }));
  });
  view = readVtoc(volume);
  const inUse = view.slots.filter((s) => dscbFormatId(s.dscb) !== DSCB_FORMAT.empty);
  const highest = inUse
    .filter((s) => dscbFormatId(s.dscb) === DSCB_FORMAT.f1 || dscbFormatId(s.dscb) === DSCB_FORMAT.f3 || dscbFormatId(s.dscb) === DSCB_FORMAT.f5)
    .pop();
  const f4: Format4 = {
    ...view.format4,
    freeDscbs: view.slots.length - inUse.length,
    highestFormat1: highest?.address ?? view.format4.highestFormat1,
    vtocIndicators: maintainable ? view.format4.vtocIndicators & ~VTOCI_FREE_SPACE_INVALID : view.format4.vtocIndicators | VTOCI_FREE_SPACE_INVALID,
  };
  writeDscb(volume, view.format4Address, encodeFormat4(f4));
  return readVtoc(volume);
}

/**
 * After a whole volume is restored onto a bigger volume of its type: the Format-4 takes the volume's
 * cylinder count and the free space grows with it. A volume without a VTOC is left as it is.
 */
export function fitVtocToVolume(volume: Volume): void {
  let view: VtocView;
  try {
    view = readVtoc(volume);
  } catch (error) {
    if (isNoVtocError(error)) return;
    throw error;
  }
  const geometry = volume.ckd;
  if (view.format4.cylinders === geometry.cylinders) return;
  writeDscb(
    volume,
    view.format4Address,
    encodeFormat4({
      ...view.format4,
      cylinders: geometry.cylinders,
      nextAlternate: Buffer.from([geometry.cylinders >> 8, geometry.cylinders & 0xff, 0, 0]),
    }),
  );
  refreshVtocSummary(volume);
}
