/**
 * The byte layouts of a compressed Hercules CKD file (CCKD, `CKD_C370`, and its shadow `CKD_S370`),
 * native-layout/cckd-header.md and Hercules `hstructs.h` (`CCKDDASD_DEVHDR`, `CCKD_L2ENT`, `CCKD_FREEBLK`):
 *
 *   0     512-byte device header (ckd-image-header.md, devid CKD_C370 or CKD_S370)
 *   512   512-byte compressed device header (this file: CCKD_HEADER_LAYOUT)
 *   1024  L1 table: numl1tab u32 file offsets of L2 tables
 *   ...   L2 tables (256 × 8-byte entries), track images (5-byte header + bytes), free blocks
 *
 * The numbers of the compressed header, the L1 and L2 tables and the free blocks are in the byte
 * order the options byte names (bit 0x02 set = big-endian); snaptape writes little-endian. The
 * tables here are the little-endian form; `bigEndianLayout` derives the other. `cylinders` is
 * little-endian in both (Hercules reads it byte by byte). The 5-byte track header is big-endian.
 * Pages: native-layout/cckd-header.md, cckd-tables.md.
 */
import { defineLayout, type FieldKind, type Layout } from '../base/field-table.js';

export const CCKD_HEADER_LAYOUT = defineLayout({
  name: 'cckd-header',
  size: 512,
  fill: 0,
  fields: [
    { name: 'version', offset: 0, length: 1, kind: 'u8', description: 'Version (0)' },
    { name: 'release', offset: 1, length: 1, kind: 'u8', description: 'Release (3)' },
    { name: 'modLevel', offset: 2, length: 1, kind: 'u8', description: 'Modification level (1)' },
    {
      name: 'options',
      offset: 3,
      length: 1,
      kind: 'u8',
      description: 'Options: 0x01 nofudge, 0x02 big-endian, 0x20 space errors, 0x40 opened r/w since check, 0x80 opened',
    },
    { name: 'l1Entries', offset: 4, length: 4, kind: 'u32le', description: 'numl1tab: entries in the L1 table, ceil(tracks / 256) (or one more)' },
    { name: 'l2Entries', offset: 8, length: 4, kind: 'u32le', description: 'numl2tab: entries in each L2 table (256)' },
    { name: 'fileBytes', offset: 12, length: 4, kind: 'u32le', description: 'size: the file size in bytes' },
    { name: 'usedBytes', offset: 16, length: 4, kind: 'u32le', description: 'used: fileBytes minus freeTotalBytes' },
    { name: 'freeOffset', offset: 20, length: 4, kind: 'u32le', description: 'free: file offset of the first free block, 0 for none' },
    { name: 'freeTotalBytes', offset: 24, length: 4, kind: 'u32le', description: 'free_total: bytes in free blocks plus imbedded free bytes' },
    { name: 'freeLargestBytes', offset: 28, length: 4, kind: 'u32le', description: 'free_largest: the largest free block' },
    { name: 'freeCount', offset: 32, length: 4, kind: 'u32le', description: 'free_number: free blocks in the chain' },
    { name: 'freeImbeddedBytes', offset: 36, length: 4, kind: 'u32le', description: 'free_imbed: sum of (size - len) over the L2 entries' },
    { name: 'cylinders', offset: 40, length: 4, kind: 'u32le', description: 'Cylinders of the volume (always little-endian)' },
    { name: 'nullFormat', offset: 44, length: 1, kind: 'u8', description: 'Null track format of tracks with no L2 table: 0, 1 or 2' },
    { name: 'compression', offset: 45, length: 1, kind: 'u8', description: 'Compression for new track images: 0 none, 1 zlib, 2 bzip2' },
    { name: 'compressionParameter', offset: 46, length: 2, kind: 'u16le', description: 'Compression level (0xFFFF = default)' },
  ],
});

/** One L2 entry: where a track image is and how long it is. */
export const CCKD_L2_ENTRY_LAYOUT = defineLayout({
  name: 'cckd-l2-entry',
  size: 8,
  fill: 0,
  fields: [
    {
      name: 'offset',
      offset: 0,
      length: 4,
      kind: 'u32le',
      description: 'pos: file offset of the track image; 0 = null track, 0xFFFFFFFF = not in this shadow',
    },
    { name: 'lengthBytes', offset: 4, length: 2, kind: 'u16le', description: 'len: bytes of the stored image; for a null track, its null format' },
    { name: 'sizeBytes', offset: 6, length: 2, kind: 'u16le', description: 'size: bytes of space held (>= len; the rest is imbedded free space)' },
  ],
});

/** The first 8 bytes of a free block in the (old-format) free-space chain. */
export const CCKD_FREE_BLOCK_LAYOUT = defineLayout({
  name: 'cckd-free-block',
  size: 8,
  fill: 0,
  fields: [
    { name: 'nextOffset', offset: 0, length: 4, kind: 'u32le', description: 'pos: file offset of the next free block, 0 in the last' },
    { name: 'lengthBytes', offset: 4, length: 4, kind: 'u32le', description: 'len: bytes of this free block' },
  ],
});

/** The header before every stored track image: the compression and the track's CCHH. */
export const CCKD_TRACK_HEADER_LAYOUT = defineLayout({
  name: 'cckd-track-header',
  size: 5,
  fill: 0,
  fields: [
    {
      name: 'compression',
      offset: 0,
      length: 1,
      kind: 'u8',
      description: 'How the bytes after the header are stored: 0 none, 1 zlib, 2 bzip2 (replaces the HA flag byte)',
    },
    { name: 'cylinder', offset: 1, length: 2, kind: 'u16be', description: 'CC of the track (the home address)' },
    { name: 'head', offset: 3, length: 2, kind: 'u16be', description: 'HH of the track (the home address)' },
  ],
});

export const CCKD_HEADER_OFFSET = 512;
export const CCKD_L1_OFFSET = CCKD_HEADER_OFFSET + CCKD_HEADER_LAYOUT.size;
export const CCKD_L1_ENTRY_BYTES = 4;
export const CCKD_L2_ENTRIES = 256;
export const CCKD_L2_TABLE_BYTES = CCKD_L2_ENTRIES * CCKD_L2_ENTRY_LAYOUT.size;
/** L1 entry and L2 offset meaning "not in this file: look in the file below" (shadow files). */
export const CCKD_NOT_HERE = 0xffffffff;

export const CCKD_OPTION = { NOFUDGE: 0x01, BIG_ENDIAN: 0x02, SPACE_ERRORS: 0x20, OPENED_RW: 0x40, OPENED: 0x80 } as const;
export const CCKD_COMPRESSION = { none: 0, zlib: 1, bzip2: 2 } as const;
export type CckdCompression = keyof typeof CCKD_COMPRESSION;
/** The version written: 0.3.1, what Hercules 3.13 writes. */
export const CCKD_VERSION = { version: 0, release: 3, modLevel: 1 } as const;

const SWAPPED: Partial<Record<FieldKind, FieldKind>> = { u16le: 'u16be', u32le: 'u32be' };

/** The same layout with its little-endian numbers big-endian (a file with option 0x02). */
export function bigEndianLayout(layout: Layout, keepLittle: readonly string[] = []): Layout {
  return defineLayout({
    ...layout,
    fields: layout.fields.map((f) => (keepLittle.includes(f.name) ? f : { ...f, kind: SWAPPED[f.kind] ?? f.kind })),
  });
}

export const CCKD_LAYOUTS_BE = {
  header: bigEndianLayout(CCKD_HEADER_LAYOUT, ['cylinders']),
  l2Entry: bigEndianLayout(CCKD_L2_ENTRY_LAYOUT),
  freeBlock: bigEndianLayout(CCKD_FREE_BLOCK_LAYOUT),
};
