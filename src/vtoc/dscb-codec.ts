/**
 * Typed Format-1, -3, -4 and -5 DSCBs, built and parsed from the tables in dscb-layouts.ts.
 * A DSCB is handled as its 140 bytes (key ‖ data); `splitDscb` gives the record's key and data.
 */
import { bytes, decodeFields, encodeFields, num, str } from '../base/field-table.js';
import { assert } from '../base/assert.js';
import type { Cchhr } from '../geometry/cchh.js';
import { decodeDscbDate, encodeDscbDate, type DscbDate } from './dscb-date.js';
import {
  DSCB_FORMAT,
  DSCB_KEY_BYTES,
  F3_EXTENTS_IN_DATA,
  F3_EXTENTS_IN_KEY,
  F5_EXTENTS_IN_DATA,
  F5_EXTENTS_IN_KEY,
  FORMAT1_LAYOUT,
  FORMAT3_LAYOUT,
  FORMAT4_LAYOUT,
  FORMAT5_LAYOUT,
} from './dscb-layouts.js';
import {
  decodeCchhr,
  decodeExtent,
  decodeFreeExtent,
  encodeCchhr,
  encodeExtent,
  encodeFreeExtent,
  NULL_CCHHR,
  UNUSED_EXTENT,
  type Extent,
  type FreeExtent,
} from './extent.js';

export interface Format1 {
  readonly dsname: string;
  readonly volser: string;
  readonly volumeSequence: number;
  readonly created: DscbDate | null;
  readonly expires: DscbDate | null;
  readonly extentCount: number;
  readonly directoryBytesUsed: number;
  readonly systemCode: string;
  readonly dsorg: number;
  readonly recfm: number;
  readonly blockSize: number;
  readonly recordLength: number;
  readonly keyLength: number;
  readonly dsind: number;
  readonly spaceAllocation: number;
  /** DS1LSTAR as TTR: relative track (high 16 bits) and record (low 8 bits). */
  readonly lastUsed: number;
  readonly trackBalance: number;
  /** The three extent slots of the F1 (unused ones have type 0). */
  readonly extents: readonly Extent[];
  readonly format3Pointer: Cchhr;
}

export interface Format3 {
  /** Thirteen extent slots: 4 in the key area, 9 in the data. */
  readonly extents: readonly Extent[];
  readonly nextPointer: Cchhr;
}

export interface Format4 {
  readonly highestFormat1: Cchhr;
  readonly freeDscbs: number;
  readonly nextAlternate: Buffer;
  readonly vtocIndicators: number;
  readonly cylinders: number;
  readonly heads: number;
  readonly trackLength: number;
  readonly deviceFlags: number;
  readonly dscbsPerTrack: number;
  readonly directoryBlocksPerTrack: number;
  readonly vtocExtent: Extent;
}

export interface Format5 {
  /** Twenty-six free-extent slots (unused ones are all zero). */
  readonly free: readonly FreeExtent[];
  readonly nextPointer: Cchhr;
}

/** DS4VTOCI: Format-5 free space is not valid and must be rebuilt. */
export const VTOCI_FREE_SPACE_INVALID = 0x80;
export const F1_EXTENT_SLOTS = 3;
export const F3_EXTENT_SLOTS = F3_EXTENTS_IN_KEY + F3_EXTENTS_IN_DATA;
export const F5_EXTENT_SLOTS = F5_EXTENTS_IN_KEY + F5_EXTENTS_IN_DATA;

export function dscbFormatId(dscb: Uint8Array): number {
  return dscb[DSCB_KEY_BYTES] as number;
}

export function splitDscb(dscb: Buffer): { key: Buffer; data: Buffer } {
  return { key: dscb.subarray(0, DSCB_KEY_BYTES), data: dscb.subarray(DSCB_KEY_BYTES) };
}

export function decodeFormat1(dscb: Uint8Array): Format1 {
  const f = decodeFields(FORMAT1_LAYOUT, dscb);
  return {
    dsname: str(f, 'dsname'),
    volser: str(f, 'volser'),
    volumeSequence: num(f, 'volumeSequence'),
    created: decodeDscbDate(bytes(f, 'created')),
    expires: decodeDscbDate(bytes(f, 'expires')),
    extentCount: num(f, 'extentCount'),
    directoryBytesUsed: num(f, 'directoryBytesUsed'),
    systemCode: str(f, 'systemCode'),
    dsorg: num(f, 'dsorg'),
    recfm: num(f, 'recfm'),
    blockSize: num(f, 'blockSize'),
    recordLength: num(f, 'recordLength'),
    keyLength: num(f, 'keyLength'),
    dsind: num(f, 'dsind'),
    spaceAllocation: num(f, 'spaceAllocation'),
    lastUsed: num(f, 'lastUsed'),
    trackBalance: num(f, 'trackBalance'),
    extents: [1, 2, 3].map((i) => decodeExtent(bytes(f, `extent${i}`))),
    format3Pointer: decodeCchhr(bytes(f, 'format3Pointer')),
  };
}

export function encodeFormat1(f1: Format1): Buffer {
  assert(f1.extents.length <= F1_EXTENT_SLOTS, 'a Format-1 holds three extents');
  const slots = [...f1.extents, UNUSED_EXTENT, UNUSED_EXTENT, UNUSED_EXTENT].slice(0, F1_EXTENT_SLOTS);
  return encodeFields(FORMAT1_LAYOUT, {
    dsname: f1.dsname,
    formatId: DSCB_FORMAT.f1,
    volser: f1.volser,
    volumeSequence: f1.volumeSequence,
    created: encodeDscbDate(f1.created),
    expires: encodeDscbDate(f1.expires),
    extentCount: f1.extentCount,
    directoryBytesUsed: f1.directoryBytesUsed,
    flag1: 0,
    systemCode: f1.systemCode,
    referenced: Buffer.alloc(3),
    smsFlags: Buffer.alloc(4),
    dsorg: f1.dsorg,
    recfm: f1.recfm,
    optcd: 0,
    blockSize: f1.blockSize,
    recordLength: f1.recordLength,
    keyLength: f1.keyLength,
    relativeKeyPosition: 0,
    dsind: f1.dsind,
    spaceAllocation: f1.spaceAllocation,
    lastUsed: f1.lastUsed,
    trackBalance: f1.trackBalance,
    extent1: encodeExtent(slots[0] as Extent),
    extent2: encodeExtent(slots[1] as Extent),
    extent3: encodeExtent(slots[2] as Extent),
    format3Pointer: encodeCchhr(f1.format3Pointer),
  });
}

export function decodeFormat3(dscb: Uint8Array): Format3 {
  const f = decodeFields(FORMAT3_LAYOUT, dscb);
  const extents: Extent[] = [];
  for (let i = 4; i < 4 + F3_EXTENT_SLOTS; i++) extents.push(decodeExtent(bytes(f, `extent${i}`)));
  return { extents, nextPointer: decodeCchhr(bytes(f, 'nextPointer')) };
}

export function isFormat3Key(dscb: Uint8Array): boolean {
  return num(decodeFields(FORMAT3_LAYOUT, dscb), 'keyId') === 0x03030303;
}

export function encodeFormat3(f3: Format3): Buffer {
  assert(f3.extents.length <= F3_EXTENT_SLOTS, 'a Format-3 holds thirteen extents');
  const values: Record<string, number | Buffer> = { keyId: 0x03030303, formatId: DSCB_FORMAT.f3, nextPointer: encodeCchhr(f3.nextPointer) };
  for (let i = 0; i < F3_EXTENT_SLOTS; i++) values[`extent${i + 4}`] = encodeExtent(f3.extents[i] ?? UNUSED_EXTENT);
  return encodeFields(FORMAT3_LAYOUT, values);
}

export function decodeFormat4(dscb: Uint8Array): Format4 {
  const f = decodeFields(FORMAT4_LAYOUT, dscb);
  return {
    highestFormat1: decodeCchhr(bytes(f, 'highestFormat1')),
    freeDscbs: num(f, 'freeDscbs'),
    nextAlternate: bytes(f, 'nextAlternate'),
    vtocIndicators: num(f, 'vtocIndicators'),
    cylinders: num(f, 'cylinders'),
    heads: num(f, 'heads'),
    trackLength: num(f, 'trackLength'),
    deviceFlags: num(f, 'deviceFlags'),
    dscbsPerTrack: num(f, 'dscbsPerTrack'),
    directoryBlocksPerTrack: num(f, 'directoryBlocksPerTrack'),
    vtocExtent: decodeExtent(bytes(f, 'vtocExtent')),
  };
}

export function encodeFormat4(f4: Format4): Buffer {
  return encodeFields(FORMAT4_LAYOUT, {
    key: Buffer.alloc(DSCB_KEY_BYTES, 0x04),
    formatId: DSCB_FORMAT.f4,
    highestFormat1: encodeCchhr(f4.highestFormat1),
    freeDscbs: f4.freeDscbs,
    nextAlternate: f4.nextAlternate,
    alternatesLeft: 0,
    vtocIndicators: f4.vtocIndicators,
    vtocExtentCount: 1,
    smsFlags: 0,
    alternateCylinders: 0,
    cylinders: f4.cylinders,
    heads: f4.heads,
    trackLength: f4.trackLength,
    overheadKeyed: 0,
    overheadLastKeyed: 0,
    overheadNonKeyed: 0,
    deviceFlags: f4.deviceFlags,
    tolerance: 0,
    dscbsPerTrack: f4.dscbsPerTrack,
    directoryBlocksPerTrack: f4.directoryBlocksPerTrack,
    format6Pointer: Buffer.alloc(5),
    vtocExtent: encodeExtent(f4.vtocExtent),
  });
}

export function decodeFormat5(dscb: Uint8Array): Format5 {
  const f = decodeFields(FORMAT5_LAYOUT, dscb);
  const free: FreeExtent[] = [];
  for (let i = 1; i <= F5_EXTENT_SLOTS; i++) free.push(decodeFreeExtent(bytes(f, `free${i}`)));
  return { free, nextPointer: decodeCchhr(bytes(f, 'nextPointer')) };
}

export function encodeFormat5(f5: Format5): Buffer {
  assert(f5.free.length <= F5_EXTENT_SLOTS, 'a Format-5 holds twenty-six free extents');
  const values: Record<string, number | Buffer> = { keyId: 0x05050505, formatId: DSCB_FORMAT.f5, nextPointer: encodeCchhr(f5.nextPointer) };
  for (let i = 0; i < F5_EXTENT_SLOTS; i++) values[`free${i + 1}`] = encodeFreeExtent(f5.free[i] ?? { relativeTrack: 0, cylinders: 0, tracks: 0 });
  return encodeFields(FORMAT5_LAYOUT, values);
}

export const EMPTY_FORMAT5: Format5 = { free: [], nextPointer: NULL_CCHHR };
