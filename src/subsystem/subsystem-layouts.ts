/**
 * The byte layouts of a subsystem folder (native-layout/mapped-subsystem.md), said once, as data:
 * - `pool.slots`: a 512-byte pool header, then physical track slots of the family's slot size;
 * - `pool.refs`: a 32-byte header, then one u32le reference count per slot;
 * - `<dir>/<name>` (a mapped volume): a 64-byte directory header, then one 8-byte entry per
 *   virtual track (slot number or UNALLOCATED_SLOT, the slot's used extent, flags).
 * Everything is little-endian. Reserved bytes are zero. Code takes offsets from these tables only.
 */
import { defineLayout, field } from '../base/field-table.js';

export const POOL_HEADER_LAYOUT = defineLayout({
  name: 'mapped-pool-header',
  size: 512,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'ascii', description: '"SNAPPOOL"' },
    { name: 'version', offset: 8, length: 4, kind: 'u32le', description: 'Format version (1)' },
    { name: 'family', offset: 12, length: 8, kind: 'ascii', description: 'Device family of every slot: "3390" or "3380"' },
    { name: 'devtypeByte', offset: 20, length: 1, kind: 'u8', description: 'Device type byte of the family (0x90 or 0x80), as in a CKD image header' },
    { name: 'slotBytes', offset: 24, length: 4, kind: 'u32le', description: "Bytes of one physical track slot (the family's CKD track slot size)" },
    { name: 'heads', offset: 28, length: 4, kind: 'u32le', description: 'Tracks per cylinder of the family' },
  ],
});

export const REFS_HEADER_LAYOUT = defineLayout({
  name: 'mapped-refs-header',
  size: 32,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'ascii', description: '"SNAPREFS"' },
    { name: 'version', offset: 8, length: 4, kind: 'u32le', description: 'Format version (1)' },
    { name: 'slotCount', offset: 12, length: 4, kind: 'u32le', description: 'Reference counts that follow the header (one per pool slot)' },
    {
      name: 'state',
      offset: 16,
      length: 4,
      kind: 'u32le',
      description: '0 = closed cleanly (counts exact); 1 = open for writing (counts may be stale after a crash)',
    },
    {
      name: 'slotsEverUsed',
      offset: 20,
      length: 4,
      kind: 'u32le',
      description: 'Slots below this were handed out at least once; slots from it on are untouched holes (all zero)',
    },
  ],
});

export const DIRECTORY_HEADER_LAYOUT = defineLayout({
  name: 'mapped-directory-header',
  size: 64,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'ascii', description: '"SNAPMDIR"' },
    { name: 'version', offset: 8, length: 4, kind: 'u32le', description: 'Format version (1)' },
    { name: 'typeName', offset: 12, length: 12, kind: 'ascii', description: 'Device type, as `init --type` names it ("3390-3", or "3390" for a custom size)' },
    { name: 'cylinders', offset: 24, length: 4, kind: 'u32le', description: 'Cylinders of the virtual volume' },
    { name: 'heads', offset: 28, length: 4, kind: 'u32le', description: 'Heads (tracks per cylinder)' },
    { name: 'trackCount', offset: 32, length: 4, kind: 'u32le', description: 'Entries that follow the header: cylinders x heads' },
    { name: 'slotBytes', offset: 36, length: 4, kind: 'u32le', description: "Slot size; must equal the pool's" },
  ],
});

export const DIRECTORY_ENTRY_LAYOUT = defineLayout({
  name: 'mapped-directory-entry',
  size: 8,
  fill: 0,
  fields: [
    {
      name: 'slot',
      offset: 0,
      length: 4,
      kind: 'u32le',
      description: 'Pool slot holding the track, or 0xFFFFFFFF: unallocated (reads as HA, R0, EOT of its own CCHH)',
    },
    { name: 'extentBytes', offset: 4, length: 2, kind: 'u16le', description: 'Bytes of the slot that may be non-zero; the rest of the slot is zero' },
    { name: 'flags', offset: 6, length: 2, kind: 'u16le', description: 'Bit 0: relocated (the slot was written as another track; reads rewrite its CCHH)' },
  ],
});

export const POOL_MAGIC = 'SNAPPOOL';
export const REFS_MAGIC = 'SNAPREFS';
export const DIRECTORY_MAGIC = 'SNAPMDIR';
export const SUBSYSTEM_FORMAT_VERSION = 1;

export const REFS_STATE = { clean: 0, open: 1 } as const;

/** The entry value of a virtual track with no slot. */
export const UNALLOCATED_SLOT = 0xffff_ffff;
/** Directory entry flag: the slot's track image carries another track's CCHH. */
export const ENTRY_FLAG_RELOCATED = 0x0001;

export const REFCOUNT_BYTES = 4;
export const DIRECTORY_ENTRY_BYTES = DIRECTORY_ENTRY_LAYOUT.size;
export const ENTRY_SLOT_OFFSET = field(DIRECTORY_ENTRY_LAYOUT, 'slot').offset;
export const ENTRY_EXTENT_OFFSET = field(DIRECTORY_ENTRY_LAYOUT, 'extentBytes').offset;
export const ENTRY_FLAGS_OFFSET = field(DIRECTORY_ENTRY_LAYOUT, 'flags').offset;

/** File names inside a subsystem folder. Volume names have no dot, so they never collide. */
export const POOL_FILE = 'pool.slots';
export const REFS_FILE = 'pool.refs';
export const POOL_LOCK_NAME = 'pool';
export const TOKENS_DIR = 'tokens';
export const PINS_DIR = 'pins';
