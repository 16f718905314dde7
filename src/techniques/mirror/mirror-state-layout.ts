/**
 * The byte layout of the persisted track-status table, `<primary image>.mirror`
 * (native-layout/mirror-state-file.md and its JSON tables). Big-endian integers, reserved bytes 0.
 *
 *   offset 0                      header (MIRROR_HEADER_LAYOUT)
 *   offset MIRROR_HEADER_BYTES    MAX_SECONDARIES descriptors (MIRROR_DESCRIPTOR_LAYOUT), M2..M4
 *   offset MIRROR_BITMAP_OFFSET   one status byte per track: bit k set = mirror M(k+1) holds the track
 */
import { defineLayout, type Layout } from '../../base/field-table.js';
import { assert } from '../../base/assert.js';
import { MAX_MIRRORS, MAX_SECONDARIES, MAX_TARGET_BYTES } from './mirror-limits.js';

export const MIRROR_FILE_MAGIC = 'SNAPMIRR';
export const MIRROR_FILE_VERSION = 1;
/** Header flag: the bitmap was written out completely by a clean detach (no write in flight). */
export const MIRROR_FLAG_CLEAN = 0x01;
/** Descriptor kinds. */
export const TARGET_KIND_CODES = { local: 1, remote: 2 } as const;

export const MIRROR_HEADER_LAYOUT: Layout = defineLayout({
  name: 'mirror-state-header',
  size: 32,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'ascii', description: 'SNAPMIRR' },
    { name: 'version', offset: 8, length: 2, kind: 'u16be', description: 'format version, 1' },
    { name: 'secondaryCount', offset: 10, length: 1, kind: 'u8', description: 'secondaries configured (1-3): descriptors 0..n-1 are M2..M(n+1)' },
    { name: 'flags', offset: 11, length: 1, kind: 'u8', description: 'bit 0 CLEAN: no mirrored write was in flight when this was written' },
    { name: 'trackCount', offset: 12, length: 4, kind: 'u32be', description: 'tracks (CKD) or blocks (FBA) of the primary: bytes in the bitmap' },
    { name: 'slotBytes', offset: 16, length: 4, kind: 'u32be', description: 'slot size of the primary, which every secondary must share' },
    { name: 'generation', offset: 20, length: 4, kind: 'u32be', description: 'incremented at every header write' },
    {
      name: 'primary',
      offset: 24,
      length: 8,
      kind: 'bytes',
      description: "the first 8 bytes of the SHA-256 of the primary image's absolute path; zero in files written before it",
    },
  ],
});

export const MIRROR_DESCRIPTOR_LAYOUT: Layout = defineLayout({
  name: 'mirror-state-descriptor',
  size: 256,
  fill: 0,
  fields: [
    { name: 'kind', offset: 0, length: 1, kind: 'u8', description: '1 local image, 2 remote (NBD link)' },
    { name: 'linkState', offset: 1, length: 1, kind: 'u8', description: '1 COPY, 2 ONGOING, 3 SUSPENDED, 4 BACKUP, 5 BACKUP RETURN' },
    { name: 'splitCount', offset: 4, length: 4, kind: 'u32be', description: 'times this mirror was split' },
    { name: 'target', offset: 8, length: MAX_TARGET_BYTES, kind: 'ascii', description: 'local image path, host:port/export, or a nbd+unix:// or nbds:// URI' },
  ],
});

export const MIRROR_HEADER_BYTES = MIRROR_HEADER_LAYOUT.size;
export const MIRROR_DESCRIPTOR_BYTES = MIRROR_DESCRIPTOR_LAYOUT.size;
export const MIRROR_BITMAP_OFFSET = MIRROR_HEADER_BYTES + MAX_SECONDARIES * MIRROR_DESCRIPTOR_BYTES;
/** Bit of mirror M1 (the primary) in a status byte; M(k+1) is bit k. */
export const PRIMARY_BIT = 0x01;

assert(MAX_MIRRORS <= 8, 'the status byte has a bit for every mirror');
assert(
  MIRROR_DESCRIPTOR_LAYOUT.fields.every((f) => f.offset + f.length <= MIRROR_DESCRIPTOR_BYTES),
  'descriptor fields fit',
);

export function descriptorOffset(index: number): number {
  assert(Number.isInteger(index) && index >= 0 && index < MAX_SECONDARIES, 'descriptor index in range');
  return MIRROR_HEADER_BYTES + index * MIRROR_DESCRIPTOR_BYTES;
}
