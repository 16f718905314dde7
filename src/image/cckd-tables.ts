/**
 * The lookup tables of a CCKD file (cckd-tables.md): the L1 table at byte 1024 (one u32 file offset
 * per group of 256 tracks) and the L2 tables it points at (256 entries of offset u32, length u16,
 * size u16). Track t is entry t % 256 of the L2 table at L1[t / 256]. Both are in the file's byte
 * order (compressed header option 0x02).
 */
import { decodeFields, encodeFields, num } from '../base/field-table.js';
import { CCKD_L1_ENTRY_BYTES, CCKD_L2_ENTRIES, CCKD_L2_ENTRY_LAYOUT, CCKD_LAYOUTS_BE, CCKD_NOT_HERE } from './cckd-layouts.js';

export interface L2Table {
  readonly offsets: Uint32Array;
  readonly lengths: Uint16Array;
  readonly sizes: Uint16Array;
}

export function emptyL2Table(shadow: boolean): L2Table {
  const table = { offsets: new Uint32Array(CCKD_L2_ENTRIES), lengths: new Uint16Array(CCKD_L2_ENTRIES), sizes: new Uint16Array(CCKD_L2_ENTRIES) };
  // A new table in a shadow says "look below" for every track it does not hold (all-ones entries).
  if (shadow) {
    table.offsets.fill(CCKD_NOT_HERE);
    table.lengths.fill(0xffff);
    table.sizes.fill(0xffff);
  }
  return table;
}

export function decodeL1(bytes: Buffer, entries: number, bigEndian: boolean): Uint32Array {
  const l1 = new Uint32Array(entries);
  for (let i = 0; i < entries; i++) l1[i] = bigEndian ? bytes.readUInt32BE(i * CCKD_L1_ENTRY_BYTES) : bytes.readUInt32LE(i * CCKD_L1_ENTRY_BYTES);
  return l1;
}

export function encodeL1(l1: Uint32Array, bigEndian: boolean): Buffer {
  const out = Buffer.alloc(l1.length * CCKD_L1_ENTRY_BYTES);
  l1.forEach((v, i) => (bigEndian ? out.writeUInt32BE(v, i * CCKD_L1_ENTRY_BYTES) : out.writeUInt32LE(v, i * CCKD_L1_ENTRY_BYTES)));
  return out;
}

export function decodeL2(bytes: Buffer, bigEndian: boolean): L2Table {
  const layout = bigEndian ? CCKD_LAYOUTS_BE.l2Entry : CCKD_L2_ENTRY_LAYOUT;
  const table = emptyL2Table(false);
  for (let j = 0; j < CCKD_L2_ENTRIES; j++) {
    const f = decodeFields(layout, bytes.subarray(j * layout.size, (j + 1) * layout.size));
    table.offsets[j] = num(f, 'offset');
    table.lengths[j] = num(f, 'lengthBytes');
    table.sizes[j] = num(f, 'sizeBytes');
  }
  return table;
}

export function encodeL2(table: L2Table, bigEndian: boolean): Buffer {
  const layout = bigEndian ? CCKD_LAYOUTS_BE.l2Entry : CCKD_L2_ENTRY_LAYOUT;
  return Buffer.concat(
    Array.from({ length: CCKD_L2_ENTRIES }, (_, j) =>
      encodeFields(layout, {
        offset: table.offsets[j] as number,
        lengthBytes: table.lengths[j] as number,
        sizeBytes: table.sizes[j] as number,
      }),
    ),
  );
}
