/**
 * The 512-byte device header of an uncompressed Hercules CKD image (`CKD_P370`), native-layout/ckd-image-header.md.
 * Its numbers are little-endian whatever the host (unlike everything inside a track).
 */
import { decodeFields, defineLayout, encodeFields, num, str } from '../base/field-table.js';

export const CKD_HEADER_LAYOUT = defineLayout({
  name: 'ckd-image-header',
  size: 512,
  fill: 0,
  fields: [
    { name: 'devid', offset: 0, length: 8, kind: 'ascii', description: 'CKD_P370 for an uncompressed image (CKD_C370 compressed, CKD_S370 shadow)' },
    { name: 'heads', offset: 8, length: 4, kind: 'u32le', description: 'Tracks per cylinder' },
    { name: 'trackSlotBytes', offset: 12, length: 4, kind: 'u32le', description: 'Bytes of every track slot (trksize)' },
    { name: 'devtypeByte', offset: 16, length: 1, kind: 'u8', description: 'Low byte of the device type as hex digits: 0x90 = 3390, 0x80 = 3380' },
    { name: 'fileSequence', offset: 17, length: 1, kind: 'u8', description: '0 for a single-file volume, else 1, 2, ... in a multi-file volume' },
    { name: 'highCylinder', offset: 18, length: 2, kind: 'u16le', description: 'Last cylinder in this file; 0 in the last or only file' },
  ],
});

export const CKD_HEADER_BYTES = CKD_HEADER_LAYOUT.size;
export const CKD_DEVID_UNCOMPRESSED = 'CKD_P370';

export interface CkdImageHeader {
  readonly devid: string;
  readonly heads: number;
  readonly trackSlotBytes: number;
  readonly devtypeByte: number;
  readonly fileSequence: number;
  readonly highCylinder: number;
}

export function decodeCkdHeader(bytes: Uint8Array): CkdImageHeader {
  const f = decodeFields(CKD_HEADER_LAYOUT, bytes);
  return {
    devid: str(f, 'devid'),
    heads: num(f, 'heads'),
    trackSlotBytes: num(f, 'trackSlotBytes'),
    devtypeByte: num(f, 'devtypeByte'),
    fileSequence: num(f, 'fileSequence'),
    highCylinder: num(f, 'highCylinder'),
  };
}

export function encodeCkdHeader(header: Omit<CkdImageHeader, 'devid'>): Buffer {
  return encodeFields(CKD_HEADER_LAYOUT, { devid: CKD_DEVID_UNCOMPRESSED, ...header });
}
