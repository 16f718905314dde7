/**
 * Reads a volume's VTOC (native-layout/vtoc-procedures.md): VOL1 → Format-4 → every DSCB in the VTOC extent → each
 * Format-1 with its chain of Format-3s. Every pointer and extent is checked against the volume, so a
 * damaged VTOC is a VtocError naming the file and the DSCB, never a wrong listing.
 */
import { VtocError } from '../errors/snaptape-error.js';
import { cchhOf, formatCchhr, trackIndexOf, type Cchhr } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { Volume } from '../volume/volume.js';
import { decodeFormat1, decodeFormat3, decodeFormat4, dscbFormatId, isFormat3Key, type Format1, type Format4 } from './dscb-codec.js';
import { DSCB_DATA_BYTES, DSCB_FORMAT, DSCB_KEY_BYTES } from './dscb-layouts.js';
import { checkExtent, extentRun, isNullCchhr, type Extent, type TrackRun } from './extent.js';
import { readVolumeLabel, type VolumeLabel } from './volume-label.js';

export interface DscbSlot {
  readonly address: Cchhr;
  readonly dscb: Buffer;
}

export interface DatasetEntry {
  readonly name: string;
  readonly format1: Format1;
  readonly format1Address: Cchhr;
  readonly format3Addresses: readonly Cchhr[];
  /** All extents in logical (sequence) order. */
  readonly extents: readonly Extent[];
  readonly trackCount: number;
}

export interface VtocView {
  readonly label: VolumeLabel;
  readonly format4: Format4;
  readonly format4Address: Cchhr;
  readonly vtocRun: TrackRun;
  readonly slots: readonly DscbSlot[];
  readonly datasets: readonly DatasetEntry[];
}

/** Bound on a Format-3 chain: 16 extents per volume need at most one F3; allow long chains anyway. */
const MAX_FORMAT3_CHAIN = 64;

function vtocError(volume: Volume, message: string, address?: Cchhr, noVtoc = false): VtocError {
  return new VtocError(`Cannot read the VTOC of ${volume.path}: ${message}`, {
    path: volume.path,
    cylinder: address?.cylinder ?? null,
    head: address?.head ?? null,
    record: address?.record ?? null,
    // True only when the volume simply has no VTOC (dasdinit makes none); false when one is damaged.
    noVtoc,
  });
}

/** True for the VtocError of a volume that has no VTOC at all, as opposed to a damaged one. */
export function isNoVtocError(error: unknown): error is VtocError {
  return error instanceof VtocError && error.details['noVtoc'] === true;
}

function isDscbRecord(r: { key: Buffer; data: Buffer }): boolean {
  return r.key.length === DSCB_KEY_BYTES && r.data.length === DSCB_DATA_BYTES;
}

function readSlots(volume: Volume, geometry: CkdGeometry, run: TrackRun): DscbSlot[] {
  const slots: DscbSlot[] = [];
  for (let t = run.firstTrack; t < run.firstTrack + run.trackCount; t++) {
    const cchh = cchhOf(geometry, t);
    for (const r of volume.readTrack(t).records) {
      if (isDscbRecord(r)) slots.push({ address: { ...cchh, record: r.record }, dscb: Buffer.concat([r.key, r.data]) });
    }
  }
  return slots;
}

function findSlot(slots: readonly DscbSlot[], address: Cchhr): DscbSlot | undefined {
  return slots.find((s) => s.address.cylinder === address.cylinder && s.address.head === address.head && s.address.record === address.record);
}

function readFormat4(volume: Volume, geometry: CkdGeometry, label: VolumeLabel): Format4 {
  const p = label.vtocPointer;
  if (p.cylinder >= geometry.cylinders || p.head >= geometry.heads || p.record === 0) {
    throw vtocError(volume, `VOL1 points at ${formatCchhr(p)}, outside the volume`, p);
  }
  const track = volume.readTrack(trackIndexOf(geometry, p));
  const record = track.records.find((r) => r.record === p.record);
  if (!record || !isDscbRecord(record) || dscbFormatId(Buffer.concat([record.key, record.data])) !== DSCB_FORMAT.f4) {
    throw vtocError(volume, `no Format-4 DSCB at ${formatCchhr(p)} where VOL1 points (no VTOC: dasdinit makes none; snaptape alloc creates one)`, p, true);
  }
  return decodeFormat4(Buffer.concat([record.key, record.data]));
}

function readDataset(volume: Volume, geometry: CkdGeometry, slots: readonly DscbSlot[], slot: DscbSlot): DatasetEntry {
  const format1 = decodeFormat1(slot.dscb);
  const owner = `data set ${format1.dsname} (Format-1 at ${formatCchhr(slot.address)})`;
  const extents: Extent[] = format1.extents.filter((e) => e.type !== 0).slice(0, format1.extentCount);
  const format3Addresses: Cchhr[] = [];
  let next = format1.format3Pointer;
  while (extents.length < format1.extentCount && !isNullCchhr(next)) {
    if (format3Addresses.length >= MAX_FORMAT3_CHAIN) throw vtocError(volume, `${owner} has a Format-3 chain longer than ${MAX_FORMAT3_CHAIN}`, next);
    const f3Slot = findSlot(slots, next);
    if (!f3Slot || dscbFormatId(f3Slot.dscb) !== DSCB_FORMAT.f3 || !isFormat3Key(f3Slot.dscb)) {
      throw vtocError(volume, `${owner} points at ${formatCchhr(next)}, which is not a Format-3 DSCB in the VTOC`, next);
    }
    format3Addresses.push(next);
    const f3 = decodeFormat3(f3Slot.dscb);
    for (const e of f3.extents) if (e.type !== 0 && extents.length < format1.extentCount) extents.push(e);
    next = f3.nextPointer;
  }
  if (extents.length !== format1.extentCount) {
    throw vtocError(volume, `${owner} says ${format1.extentCount} extents but its DSCBs hold ${extents.length}`, slot.address);
  }
  extents.sort((a, b) => a.sequence - b.sequence);
  for (const e of extents) checkExtent(geometry, e, { path: volume.path, owner });
  const trackCount = extents.reduce((n, e) => n + extentRun(geometry, e).trackCount, 0);
  return { name: format1.dsname, format1, format1Address: slot.address, format3Addresses, extents, trackCount };
}

export function readVtoc(volume: Volume): VtocView {
  const geometry = volume.ckd;
  const label = readVolumeLabel(volume);
  const format4 = readFormat4(volume, geometry, label);
  checkExtent(geometry, format4.vtocExtent, { path: volume.path, owner: `the VTOC extent in the Format-4 DSCB` });
  const vtocRun = extentRun(geometry, format4.vtocExtent);
  const slots = readSlots(volume, geometry, vtocRun);
  const datasets = slots
    .filter((s) => dscbFormatId(s.dscb) === DSCB_FORMAT.f1)
    .map((s) => readDataset(volume, geometry, slots, s))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { label, format4, format4Address: label.vtocPointer, vtocRun, slots, datasets };
}

/** True when the volume has a VTOC that `readVtoc` can read. */
export function findDataset(view: VtocView, name: string): DatasetEntry | undefined {
  return view.datasets.find((d) => d.name === name.toUpperCase());
}
