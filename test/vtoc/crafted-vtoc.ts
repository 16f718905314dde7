/**
 * Crafted VTOCs for the write-guard tests and the fuzz seeds: a one-cylinder 3390 built through
 * snaptape's own API (VTOC on track 1; A.DATA on tracks 2-6; B.DATA on tracks 7-11, holding
 * 128,000 bytes), then one Format-1 or Format-3 DSCB corrupted in place. DSCB bytes are found by
 * walking the count fields (check-fixtures.ts), not through src/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createVolume } from '../../src/api/volume-api.js';
import { encodeEbcdic } from '../../src/base/ebcdic.js';
import { allocateDataset } from '../../src/vtoc/dataset-allocator.js';
import { parseRecfm } from '../../src/vtoc/dataset-attributes.js';
import { putDataset } from '../../src/vtoc/dataset-io.js';
import { ckdRecords, patchFile } from '../check/check-fixtures.js';

export const VTOC_TRACK = 1;
/** DSCB offsets within the 140-byte key ‖ data (native-layout/dscb-format4.md, native-layout/dscb-format5.md). */
const DS1NOEPV = 59;
const DS1EXT1 = 105;
const DS1PTRDS = 135;
const DS3KEYID = 0;
const DS3FMTID = 44;
const DS3PTRDS = 135;
/** Within an extent: type(1) seq(1) beginCC(2) beginHH(2) endCC(2) endHH(2). */
const BEGIN_CC = 2;
const END_CC = 6;

/** What B.DATA holds: 1,600 records of 80 bytes, each different. */
export function bContent(): Buffer {
  const b = Buffer.alloc(128_000);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

export function buildGuardVolume(dir: string, name: string): string {
  const path = join(dir, `${name}.ckd`);
  const volume = createVolume(path, { type: '3390', cylinders: 1, volser: 'GUARD1' });
  try {
    const attributes = { dsorg: 'PS' as const, recfm: parseRecfm('FB'), recordLength: 80, blockSize: 800 };
    allocateDataset(volume, { name: 'A.DATA', tracks: 5, ...attributes });
    allocateDataset(volume, { name: 'B.DATA', tracks: 5, ...attributes });
    putDataset(volume, 'A.DATA', Buffer.from('FIRST LINE OF A\n'), { text: true });
    putDataset(volume, 'B.DATA', bContent());
  } finally {
    volume.close();
  }
  return path;
}

function dscbRecord(path: string, test: (dscb: Buffer) => boolean, what: string): { record: number; keyOffset: number } {
  const data = readFileSync(path);
  for (const place of ckdRecords(path, VTOC_TRACK).values()) {
    if (place.keyLength !== 44 || place.dataLength !== 96) continue;
    if (test(data.subarray(place.keyOffset, place.keyOffset + 140))) return { record: place.record, keyOffset: place.keyOffset };
  }
  throw new Error(`${path} has no ${what} on track ${VTOC_TRACK}`);
}

function format1Of(path: string, dsname: string): { record: number; keyOffset: number } {
  const key = Buffer.alloc(44, 0x40);
  encodeEbcdic(dsname).copy(key);
  return dscbRecord(path, (d) => d.subarray(0, 44).equals(key) && d[44] === 0xf1, `Format-1 of ${dsname}`);
}

const u16 = (n: number): number[] => [n >> 8, n & 0xff];

/** A.DATA's extent becomes CC/HH 0/0-0/6: over track 0 (VOL1) and the VTOC (track 1). */
export function craftOverLabelAndVtoc(path: string): void {
  const at = format1Of(path, 'A.DATA').keyOffset + DS1EXT1;
  patchFile(path, at + BEGIN_CC, [...u16(0), ...u16(0)]);
}

/** A.DATA's extent becomes CC/HH 0/2-0/9: over B.DATA's tracks 7-9. */
export function craftOverlapOther(path: string): void {
  const at = format1Of(path, 'A.DATA').keyOffset + DS1EXT1;
  patchFile(path, at + END_CC, [...u16(0), ...u16(9)]);
}

/** A.DATA's extent ends on cylinder 1, past the one-cylinder volume's end. */
export function craftPastEnd(path: string): void {
  const at = format1Of(path, 'A.DATA').keyOffset + DS1EXT1;
  patchFile(path, at + END_CC, [...u16(1), ...u16(3)]);
}

/**
 * A.DATA says 2 extents and points at a Format-3 (made in a free DSCB slot) that holds none and
 * points at itself: a chain that loops.
 */
export function craftChainLoop(path: string): void {
  const f1 = format1Of(path, 'A.DATA');
  const free = dscbRecord(path, (d) => d.every((b) => b === 0), 'free DSCB');
  const self = [...u16(0), ...u16(VTOC_TRACK), free.record];
  patchFile(path, free.keyOffset + DS3KEYID, [0x03, 0x03, 0x03, 0x03]);
  patchFile(path, free.keyOffset + DS3FMTID, [0xf3]);
  patchFile(path, free.keyOffset + DS3PTRDS, self);
  patchFile(path, f1.keyOffset + DS1NOEPV, [2]);
  patchFile(path, f1.keyOffset + DS1PTRDS, self);
}

export const CRAFTED_VTOCS = {
  'over-label-and-vtoc': craftOverLabelAndVtoc,
  'overlap-other': craftOverlapOther,
  'past-end': craftPastEnd,
  'chain-loop': craftChainLoop,
} as const;
