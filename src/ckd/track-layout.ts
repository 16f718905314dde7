/**
 * Byte layouts inside a CKD track image (native-layout/ckd-track.md), big-endian like everything inside a track:
 * the 5-byte home address, the 8-byte count field, and the 8-byte end-of-track marker.
 * native-layout/ckd-track.md describes them; test/layout checks the JSON tables against these.
 */
import { defineLayout } from '../base/field-table.js';

export const HOME_ADDRESS_LAYOUT = defineLayout({
  name: 'ckd-home-address',
  size: 5,
  fill: 0,
  fields: [
    { name: 'bin', offset: 0, length: 1, kind: 'u8', description: 'Flag byte; Hercules requires 0' },
    { name: 'cylinder', offset: 1, length: 2, kind: 'u16be', description: "CC: the track's own cylinder" },
    { name: 'head', offset: 3, length: 2, kind: 'u16be', description: "HH: the track's own head" },
  ],
});

export const COUNT_FIELD_LAYOUT = defineLayout({
  name: 'ckd-count-field',
  size: 8,
  fill: 0,
  fields: [
    { name: 'cylinder', offset: 0, length: 2, kind: 'u16be', description: 'CC of the record id' },
    { name: 'head', offset: 2, length: 2, kind: 'u16be', description: 'HH of the record id' },
    { name: 'record', offset: 4, length: 1, kind: 'u8', description: 'R: record number (R0 = 0)' },
    { name: 'keyLength', offset: 5, length: 1, kind: 'u8', description: 'KL: key bytes following the count' },
    { name: 'dataLength', offset: 6, length: 2, kind: 'u16be', description: 'DL: data bytes following the key; KL=0 and DL=0 is an EOF record' },
  ],
});

/** The end-of-track marker is a count field of all 0xFF. */
export const END_OF_TRACK_MARKER = Buffer.alloc(COUNT_FIELD_LAYOUT.size, 0xff);

/** R0 always carries 8 data bytes and no key ("standard R0"). */
export const R0_DATA_BYTES = 8;

/** Bytes of an empty track: HA + R0 count + R0 data + EOT (null track format 1). */
export const EMPTY_TRACK_BYTES = HOME_ADDRESS_LAYOUT.size + COUNT_FIELD_LAYOUT.size + R0_DATA_BYTES + END_OF_TRACK_MARKER.length;
