/**
 * Byte layouts of the disk volume label and the VTOC's DSCBs (native-layout/disk-vol1.md, dscb-*.md). A DSCB is a
 * record with a 44-byte key and 96 bytes of data; offsets here are within the 140-byte key ‖ data.
 * Everything is big-endian. Reserved bytes are zero (blanks in VOL1).
 */
import { defineLayout, type FieldSpec } from '../base/field-table.js';

export const DSCB_KEY_BYTES = 44;
export const DSCB_DATA_BYTES = 96;
export const DSCB_BYTES = DSCB_KEY_BYTES + DSCB_DATA_BYTES;
/** The format id is the first data byte: 0xF1, 0xF3, 0xF4, 0xF5; 0 is an empty (Format-0) DSCB. */
export const DSCB_FORMAT_ID_OFFSET = 44;
export const EXTENT_BYTES = 10;
export const FREE_EXTENT_BYTES = 5;
export const CCHHR_BYTES = 5;

export const VOL1_DATA_BYTES = 80;

export const DISK_VOL1_LAYOUT = defineLayout({
  name: 'disk-vol1',
  size: VOL1_DATA_BYTES,
  fill: 0x40,
  fields: [
    { name: 'labelId', offset: 0, length: 4, kind: 'ebcdic', description: '"VOL1"' },
    { name: 'volser', offset: 4, length: 6, kind: 'ebcdic', description: 'Volume serial, blank padded' },
    { name: 'security', offset: 10, length: 1, kind: 'u8', description: 'Security byte (0x40)' },
    { name: 'vtocPointer', offset: 11, length: 5, kind: 'bytes', description: 'CCHHR of the Format-4 DSCB' },
    { name: 'owner', offset: 37, length: 14, kind: 'ebcdic', description: 'Owner id' },
  ],
});

const ext = (name: string, offset: number, description: string): FieldSpec => ({ name, offset, length: EXTENT_BYTES, kind: 'bytes', description });

export const FORMAT1_LAYOUT = defineLayout({
  name: 'dscb-format1',
  size: DSCB_BYTES,
  fill: 0,
  fields: [
    { name: 'dsname', offset: 0, length: 44, kind: 'ebcdic', description: 'DS1DSNAM: data set name (the key)' },
    { name: 'formatId', offset: 44, length: 1, kind: 'u8', description: 'DS1FMTID 0xF1' },
    { name: 'volser', offset: 45, length: 6, kind: 'ebcdic', description: 'DS1DSSN: volume serial' },
    { name: 'volumeSequence', offset: 51, length: 2, kind: 'u16be', description: 'DS1VOLSQ' },
    { name: 'created', offset: 53, length: 3, kind: 'bytes', description: 'DS1CREDT: YDD, year-1900 and BE day of year' },
    { name: 'expires', offset: 56, length: 3, kind: 'bytes', description: 'DS1EXPDT: YDD, 0 = none' },
    { name: 'extentCount', offset: 59, length: 1, kind: 'u8', description: 'DS1NOEPV: extents on this volume' },
    { name: 'directoryBytesUsed', offset: 60, length: 1, kind: 'u8', description: 'DS1NOBDB: bytes used in the last PDS directory block' },
    { name: 'flag1', offset: 61, length: 1, kind: 'u8', description: 'DS1FLAG1' },
    { name: 'systemCode', offset: 62, length: 13, kind: 'ebcdic', description: 'DS1SYSCD' },
    { name: 'referenced', offset: 75, length: 3, kind: 'bytes', description: 'DS1REFD: last-referenced date' },
    { name: 'smsFlags', offset: 78, length: 4, kind: 'bytes', description: 'SMS flags and secondary space extension' },
    { name: 'dsorg', offset: 82, length: 2, kind: 'u16be', description: 'DS1DSORG: 0x4000 PS, 0x0200 PO, 0x2000 DA' },
    { name: 'recfm', offset: 84, length: 1, kind: 'u8', description: 'DS1RECFM: 0x80 F, 0x40 V, 0xC0 U, +0x10 blocked' },
    { name: 'optcd', offset: 85, length: 1, kind: 'u8', description: 'DS1OPTCD' },
    { name: 'blockSize', offset: 86, length: 2, kind: 'u16be', description: 'DS1BLKL' },
    { name: 'recordLength', offset: 88, length: 2, kind: 'u16be', description: 'DS1LRECL' },
    { name: 'keyLength', offset: 90, length: 1, kind: 'u8', description: 'DS1KEYL' },
    { name: 'relativeKeyPosition', offset: 91, length: 2, kind: 'u16be', description: 'DS1RKP' },
    { name: 'dsind', offset: 93, length: 1, kind: 'u8', description: 'DS1DSIND: 0x80 last volume, 0x20 blksize multiple of 8' },
    { name: 'spaceAllocation', offset: 94, length: 4, kind: 'u32be', description: 'DS1SCALO: units (top 2 bits) and secondary quantity' },
    { name: 'lastUsed', offset: 98, length: 3, kind: 'u24be', description: 'DS1LSTAR: TTR of the last used block' },
    { name: 'trackBalance', offset: 101, length: 2, kind: 'u16be', description: 'DS1TRBAL: bytes left on the last used track' },
    ext('extent1', 105, 'DS1EXT1'),
    ext('extent2', 115, 'DS1EXT2'),
    ext('extent3', 125, 'DS1EXT3'),
    { name: 'format3Pointer', offset: 135, length: 5, kind: 'bytes', description: 'DS1PTRDS: CCHHR of the first Format-3 DSCB, 0 if none' },
  ],
});

export const F3_EXTENTS_IN_KEY = 4;
export const F3_EXTENTS_IN_DATA = 9;

export const FORMAT3_LAYOUT = defineLayout({
  name: 'dscb-format3',
  size: DSCB_BYTES,
  fill: 0,
  fields: [
    { name: 'keyId', offset: 0, length: 4, kind: 'u32be', description: 'DS3KEYID 0x03030303' },
    ...Array.from({ length: F3_EXTENTS_IN_KEY }, (_, i) => ext(`extent${i + 4}`, 4 + i * EXTENT_BYTES, `DS3EXTNT: extent ${i + 4}`)),
    { name: 'formatId', offset: 44, length: 1, kind: 'u8', description: 'DS3FMTID 0xF3' },
    ...Array.from({ length: F3_EXTENTS_IN_DATA }, (_, i) => ext(`extent${i + 8}`, 45 + i * EXTENT_BYTES, `DS3ADEXT: extent ${i + 8}`)),
    { name: 'nextPointer', offset: 135, length: 5, kind: 'bytes', description: 'DS3PTRDS: CCHHR of the next Format-3, 0 if none' },
  ],
});

export const FORMAT4_LAYOUT = defineLayout({
  name: 'dscb-format4',
  size: DSCB_BYTES,
  fill: 0,
  fields: [
    { name: 'key', offset: 0, length: 44, kind: 'bytes', description: 'DS4KEYCD: 0x04 × 44' },
    { name: 'formatId', offset: 44, length: 1, kind: 'u8', description: 'DS4IDFMT 0xF4' },
    { name: 'highestFormat1', offset: 45, length: 5, kind: 'bytes', description: 'DS4HPCHR: CCHHR of the highest Format-1 DSCB' },
    { name: 'freeDscbs', offset: 50, length: 2, kind: 'u16be', description: 'DS4DSREC: number of Format-0 DSCBs' },
    { name: 'nextAlternate', offset: 52, length: 4, kind: 'bytes', description: 'DS4HCCHH: CCHH of the next alternate track' },
    { name: 'alternatesLeft', offset: 56, length: 2, kind: 'u16be', description: 'DS4NOATK' },
    { name: 'vtocIndicators', offset: 58, length: 1, kind: 'u8', description: 'DS4VTOCI: 0x80 = Format-5 free space not valid' },
    { name: 'vtocExtentCount', offset: 59, length: 1, kind: 'u8', description: 'DS4NOEXT' },
    { name: 'smsFlags', offset: 60, length: 1, kind: 'u8', description: 'DS4SMSFG' },
    { name: 'alternateCylinders', offset: 61, length: 1, kind: 'u8', description: 'DS4DEVAC' },
    { name: 'cylinders', offset: 62, length: 2, kind: 'u16be', description: 'DS4DSCYL' },
    { name: 'heads', offset: 64, length: 2, kind: 'u16be', description: 'DS4DSTRK' },
    { name: 'trackLength', offset: 66, length: 2, kind: 'u16be', description: 'DS4DEVTK: 58786 (3390), 47968 (3380)' },
    { name: 'overheadKeyed', offset: 68, length: 1, kind: 'u8', description: 'DS4DEVI' },
    { name: 'overheadLastKeyed', offset: 69, length: 1, kind: 'u8', description: 'DS4DEVL' },
    { name: 'overheadNonKeyed', offset: 70, length: 1, kind: 'u8', description: 'DS4DEVK' },
    { name: 'deviceFlags', offset: 71, length: 1, kind: 'u8', description: 'DS4DEVFG (0x30)' },
    { name: 'tolerance', offset: 72, length: 2, kind: 'u16be', description: 'DS4DEVTL' },
    { name: 'dscbsPerTrack', offset: 74, length: 1, kind: 'u8', description: 'DS4DEVDT' },
    { name: 'directoryBlocksPerTrack', offset: 75, length: 1, kind: 'u8', description: 'DS4DEVDB' },
    { name: 'format6Pointer', offset: 100, length: 5, kind: 'bytes', description: 'DS4F6PTR' },
    ext('vtocExtent', 105, "DS4VTOCE: the VTOC's own extent"),
  ],
});

export const F5_EXTENTS_IN_KEY = 8;
export const F5_EXTENTS_IN_DATA = 18;

export const FORMAT5_LAYOUT = defineLayout({
  name: 'dscb-format5',
  size: DSCB_BYTES,
  fill: 0,
  fields: [
    { name: 'keyId', offset: 0, length: 4, kind: 'u32be', description: 'DS5KEYID 0x05050505' },
    ...Array.from({ length: F5_EXTENTS_IN_KEY }, (_, i) => ({
      name: `free${i + 1}`,
      offset: 4 + i * FREE_EXTENT_BYTES,
      length: FREE_EXTENT_BYTES,
      kind: 'bytes' as const,
      description: `DS5AVEXT/DS5EXTAV: free extent ${i + 1} (relative track, cylinders, tracks)`,
    })),
    { name: 'formatId', offset: 44, length: 1, kind: 'u8', description: 'DS5FMTID 0xF5' },
    ...Array.from({ length: F5_EXTENTS_IN_DATA }, (_, i) => ({
      name: `free${i + 9}`,
      offset: 45 + i * FREE_EXTENT_BYTES,
      length: FREE_EXTENT_BYTES,
      kind: 'bytes' as const,
      description: `DS5MAVET: free extent ${i + 9}`,
    })),
    { name: 'nextPointer', offset: 135, length: 5, kind: 'bytes', description: 'DS5PTRDS: CCHHR of the next Format-5, 0 if none' },
  ],
});

export const EXTENT_LAYOUT = defineLayout({
  name: 'dscb-extent',
  size: EXTENT_BYTES,
  fill: 0,
  fields: [
    { name: 'type', offset: 0, length: 1, kind: 'u8', description: '0x00 unused, 0x01 data, 0x81 on cylinder boundaries' },
    { name: 'sequence', offset: 1, length: 1, kind: 'u8', description: 'Extent sequence number (logical order)' },
    { name: 'beginCylinder', offset: 2, length: 2, kind: 'u16be', description: 'First track: CC' },
    { name: 'beginHead', offset: 4, length: 2, kind: 'u16be', description: 'First track: HH' },
    { name: 'endCylinder', offset: 6, length: 2, kind: 'u16be', description: 'Last track (inclusive): CC' },
    { name: 'endHead', offset: 8, length: 2, kind: 'u16be', description: 'Last track (inclusive): HH' },
  ],
});

export const FREE_EXTENT_LAYOUT = defineLayout({
  name: 'dscb-free-extent',
  size: FREE_EXTENT_BYTES,
  fill: 0,
  fields: [
    { name: 'relativeTrack', offset: 0, length: 2, kind: 'u16be', description: 'First free track, relative to the volume start' },
    { name: 'cylinders', offset: 2, length: 2, kind: 'u16be', description: 'Whole free cylinders' },
    { name: 'tracks', offset: 4, length: 1, kind: 'u8', description: 'Free tracks beyond the whole cylinders' },
  ],
});

export const CCHHR_LAYOUT = defineLayout({
  name: 'cchhr',
  size: CCHHR_BYTES,
  fill: 0,
  fields: [
    { name: 'cylinder', offset: 0, length: 2, kind: 'u16be', description: 'CC' },
    { name: 'head', offset: 2, length: 2, kind: 'u16be', description: 'HH' },
    { name: 'record', offset: 4, length: 1, kind: 'u8', description: 'R' },
  ],
});

export const DSCB_FORMAT = { empty: 0x00, f1: 0xf1, f3: 0xf3, f4: 0xf4, f5: 0xf5 } as const;
