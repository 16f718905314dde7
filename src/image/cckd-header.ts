/**
 * The two headers at the start of a CCKD file: the 512-byte device header (`CKD_C370` for a base
 * file, `CKD_S370` for a shadow; same fields as an uncompressed image, ckd-image-header.md) and the
 * 512-byte compressed device header that follows it (cckd-header.md, Hercules CCKDDASD_DEVHDR).
 * The compressed header's numbers are in the file's byte order, told by option bit 0x02.
 */
import { decodeFields, encodeFields, field, num, type Layout } from '../base/field-table.js';
import { CKD_HEADER_LAYOUT } from './ckd-image-header.js';
import { CCKD_HEADER_LAYOUT, CCKD_LAYOUTS_BE, CCKD_OPTION, CCKD_VERSION } from './cckd-layouts.js';

export const CCKD_DEVID_BASE = 'CKD_C370';
export const CCKD_DEVID_SHADOW = 'CKD_S370';

export interface CckdHeader {
  readonly version: number;
  readonly release: number;
  readonly modLevel: number;
  readonly options: number;
  readonly l1Entries: number;
  readonly l2Entries: number;
  readonly fileBytes: number;
  readonly usedBytes: number;
  readonly freeOffset: number;
  readonly freeTotalBytes: number;
  readonly freeLargestBytes: number;
  readonly freeCount: number;
  readonly freeImbeddedBytes: number;
  readonly cylinders: number;
  readonly nullFormat: number;
  readonly compression: number;
  readonly compressionParameter: number;
}

const HEADER_FIELDS = CCKD_HEADER_LAYOUT.fields.map((f) => f.name) as ReadonlyArray<keyof CckdHeader>;

export function isBigEndian(options: number): boolean {
  return (options & CCKD_OPTION.BIG_ENDIAN) !== 0;
}

function headerLayout(bigEndian: boolean): Layout {
  return bigEndian ? CCKD_LAYOUTS_BE.header : CCKD_HEADER_LAYOUT;
}

/** Decodes the 512 bytes at file offset 512, in the byte order its options byte names. */
export function decodeCckdHeader(bytes: Uint8Array): CckdHeader {
  const options = bytes[field(CCKD_HEADER_LAYOUT, 'options').offset] ?? 0;
  const f = decodeFields(headerLayout(isBigEndian(options)), bytes);
  const out: Record<string, number> = {};
  for (const name of HEADER_FIELDS) out[name] = num(f, name);
  return out as unknown as CckdHeader;
}

/** Encodes the header in the byte order its `options` name. */
export function encodeCckdHeader(header: CckdHeader): Buffer {
  return encodeFields(headerLayout(isBigEndian(header.options)), { ...header });
}

/** A fresh header for a new, empty file (snaptape writes little-endian, version 0.3.1). */
export function newCckdHeader(options: {
  cylinders: number;
  l1Entries: number;
  fileBytes: number;
  nullFormat: number;
  compression: number;
  compressionParameter: number;
}): CckdHeader {
  return {
    ...CCKD_VERSION,
    options: CCKD_OPTION.NOFUDGE,
    l1Entries: options.l1Entries,
    l2Entries: 256,
    fileBytes: options.fileBytes,
    usedBytes: options.fileBytes,
    freeOffset: 0,
    freeTotalBytes: 0,
    freeLargestBytes: 0,
    freeCount: 0,
    freeImbeddedBytes: 0,
    cylinders: options.cylinders,
    nullFormat: options.nullFormat,
    compression: options.compression,
    compressionParameter: options.compressionParameter,
  };
}

/** The device header of a CCKD base or shadow file. */
export function encodeCckdDeviceHeader(options: { shadow: boolean; heads: number; trackSlotBytes: number; devtypeByte: number }): Buffer {
  return encodeFields(CKD_HEADER_LAYOUT, {
    devid: options.shadow ? CCKD_DEVID_SHADOW : CCKD_DEVID_BASE,
    heads: options.heads,
    trackSlotBytes: options.trackSlotBytes,
    devtypeByte: options.devtypeByte,
    fileSequence: 0,
    highCylinder: 0,
  });
}
