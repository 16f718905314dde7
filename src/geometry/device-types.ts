/**
 * The device table: every CKD model snaptape can emulate, with the numbers Hercules uses for it
 * (dasdtab.c), and the FBA device. Source: native-layout/ckd-image-header.md, native-layout/track-capacity.md.
 *
 * Invariant: `trackSlotBytes` = roundup512(HA 5 + R0 16 + R1 count 8 + r1MaxBytes + EOT 8), which is
 * what `dasdinit` writes (checked at load time below).
 */
import { assert } from '../base/assert.js';

/** The capacity rule of a CKD family (native-layout/track-capacity.md). */
export interface CkdCapacityRule {
  /** Bytes of one cell, the unit a record's cost is counted in. */
  readonly cellBytes: number;
  /** Cells on one track after HA and R0. */
  readonly cellsPerTrack: number;
  /** Track length used in capacity math and written to DS4DEVTK (= cellBytes × cellsPerTrack). */
  readonly trackLengthBytes: number;
}

export interface CkdFamily {
  readonly family: '3390' | '3380';
  /** Low byte of the device type, written in byte 16 of the image header. */
  readonly devtypeByte: number;
  readonly heads: number;
  /** Largest R1 data length without a key: the nominal track capacity. */
  readonly r1MaxBytes: number;
  /** Bytes of one track slot in the image file. */
  readonly trackSlotBytes: number;
  readonly capacity: CkdCapacityRule;
  /** DSCBs per track (KL 44, DL 96): DS4DEVDT. */
  readonly dscbsPerTrack: number;
  /** PDS directory blocks per track (KL 8, DL 256): DS4DEVDB. */
  readonly directoryBlocksPerTrack: number;
}

export interface CkdModel {
  /** Name as typed by users: "3390-3", "3380-K". */
  readonly name: string;
  readonly family: CkdFamily;
  readonly cylinders: number;
}

/** Image header bytes for a track: HA (5) + R0 count and data (16) + R1 count (8) + EOT (8). */
const TRACK_OVERHEAD_BYTES = 5 + 16 + 8 + 8;
const SLOT_ROUNDING_BYTES = 512;

function slotBytesFor(r1MaxBytes: number): number {
  return Math.ceil((TRACK_OVERHEAD_BYTES + r1MaxBytes) / SLOT_ROUNDING_BYTES) * SLOT_ROUNDING_BYTES;
}

/**
 * One cylinder is 15 tracks on every CKD family snaptape emulates (3390 and 3380 both have 15
 * heads). Work done a cylinder at a time (scans, compares, progress, copy batches) uses this.
 */
export const TRACKS_PER_CYLINDER = 15;

export const FAMILY_3390: CkdFamily = {
  family: '3390',
  devtypeByte: 0x90,
  heads: TRACKS_PER_CYLINDER,
  r1MaxBytes: 56664,
  trackSlotBytes: 56832,
  capacity: { cellBytes: 34, cellsPerTrack: 1729, trackLengthBytes: 58786 },
  dscbsPerTrack: 50,
  directoryBlocksPerTrack: 45,
};

export const FAMILY_3380: CkdFamily = {
  family: '3380',
  devtypeByte: 0x80,
  heads: TRACKS_PER_CYLINDER,
  r1MaxBytes: 47476,
  trackSlotBytes: 47616,
  capacity: { cellBytes: 32, cellsPerTrack: 1499, trackLengthBytes: 47968 },
  dscbsPerTrack: 53,
  directoryBlocksPerTrack: 46,
};

export const CKD_FAMILIES: readonly CkdFamily[] = [FAMILY_3390, FAMILY_3380];

for (const family of CKD_FAMILIES) {
  assert(family.trackSlotBytes === slotBytesFor(family.r1MaxBytes), `${family.family} slot size follows dasdinit`);
  assert(family.capacity.trackLengthBytes === family.capacity.cellBytes * family.capacity.cellsPerTrack, `${family.family} track length`);
}

/** Named models (Hercules dasdtab.c primary cylinder counts). */
export const CKD_MODELS: readonly CkdModel[] = [
  { name: '3390-1', family: FAMILY_3390, cylinders: 1113 },
  { name: '3390-2', family: FAMILY_3390, cylinders: 2226 },
  { name: '3390-3', family: FAMILY_3390, cylinders: 3339 },
  { name: '3390-9', family: FAMILY_3390, cylinders: 10017 },
  { name: '3390-27', family: FAMILY_3390, cylinders: 32760 },
  { name: '3390-54', family: FAMILY_3390, cylinders: 65520 },
  { name: '3380-J', family: FAMILY_3380, cylinders: 885 },
  { name: '3380-E', family: FAMILY_3380, cylinders: 1770 },
  { name: '3380-K', family: FAMILY_3380, cylinders: 2655 },
];

/** A cylinder number is 16 bits in CCHH, in the image header's highcyl and in DS4DSCYL. */
export const MAX_CKD_CYLINDERS = 65535;

/** Size of an FBA block, and of every FBA image unit. */
export const FBA_BLOCK_BYTES = 512;

export function familyByDevtypeByte(devtypeByte: number): CkdFamily | undefined {
  return CKD_FAMILIES.find((f) => f.devtypeByte === devtypeByte);
}

/** The CKD device family of a name such as "3390" or "3380", or undefined when there is none. */
export function familyByName(name: string): CkdFamily | undefined {
  return CKD_FAMILIES.find((f) => f.family === name);
}
