/**
 * Layer: layout. The CCKD tables in native-layout/*.json equal the layouts the code uses, each
 * page lists every field at its offset and length and states byte order and reserved bytes, and
 * the constants beside the tables agree with them (same convention as test/layout; run with
 * SNAPTAPE_WRITE_LAYOUTS=1 to regenerate the JSON). Unit tests of the space map and null tracks.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { field, layoutToJson, type Layout } from '../../src/base/field-table.js';
import { trackUsedBytes } from '../../src/ckd/track-codec.js';
import { decodeCckdHeader, encodeCckdHeader, newCckdHeader } from '../../src/image/cckd-header.js';
import {
  CCKD_FREE_BLOCK_LAYOUT,
  CCKD_HEADER_LAYOUT,
  CCKD_HEADER_OFFSET,
  CCKD_L1_OFFSET,
  CCKD_L2_ENTRY_LAYOUT,
  CCKD_L2_TABLE_BYTES,
  CCKD_LAYOUTS_BE,
  CCKD_OPTION,
  CCKD_TRACK_HEADER_LAYOUT,
} from '../../src/image/cckd-layouts.js';
import { NULL_FORMAT, nullEntryFormat, nullFormatOf, nullTrackImage } from '../../src/image/cckd-null-track.js';
import { FreeSpaceMap, gapsBetween } from '../../src/image/cckd-space.js';
import { CKD_HEADER_BYTES } from '../../src/image/ckd-image-header.js';
import { vectorPath } from '../harness/vectors.js';

const LAYOUT_DIR = fileURLToPath(new URL('../../native-layout/', import.meta.url));
const CCKD_LAYOUTS: ReadonlyArray<{ layout: Layout; page: string }> = [
  { layout: CCKD_HEADER_LAYOUT, page: 'cckd-header.md' },
  { layout: CCKD_L2_ENTRY_LAYOUT, page: 'cckd-tables.md' },
  { layout: CCKD_FREE_BLOCK_LAYOUT, page: 'cckd-tables.md' },
  { layout: CCKD_TRACK_HEADER_LAYOUT, page: 'cckd-tables.md' },
];

describe('CCKD native-layout tables', () => {
  for (const { layout, page } of CCKD_LAYOUTS) {
    it(`${layout.name}.json equals the code's layout, and ${page} lists every field`, () => {
      const path = `${LAYOUT_DIR}${layout.name}.json`;
      const expected = `${JSON.stringify(layoutToJson(layout), null, 2)}\n`;
      if (process.env['SNAPTAPE_WRITE_LAYOUTS'] === '1') writeFileSync(path, expected);
      expect(existsSync(path), `${path} exists (regenerate with SNAPTAPE_WRITE_LAYOUTS=1)`).toBe(true);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(layoutToJson(layout));
      const text = readFileSync(`${LAYOUT_DIR}${page}`, 'utf8');
      for (const f of layout.fields) expect(text, `${page} row for ${f.name}`).toContain(`| ${f.offset} | ${f.length} | ${f.name} | ${f.kind} |`);
      expect(text).toMatch(/Byte order: .*(big|little)-endian/);
      expect(text).toMatch(/Reserved bytes/);
      expect(text).toContain(`${layout.name}.json`);
    });
  }

  it('constants beside the tables agree with them', () => {
    expect(CCKD_HEADER_OFFSET).toBe(CKD_HEADER_BYTES);
    expect(CCKD_L1_OFFSET).toBe(CKD_HEADER_BYTES + CCKD_HEADER_LAYOUT.size);
    expect(CCKD_L1_OFFSET).toBe(1024);
    expect(CCKD_L2_TABLE_BYTES).toBe(256 * CCKD_L2_ENTRY_LAYOUT.size);
    expect(field(CCKD_HEADER_LAYOUT, 'cylinders').offset).toBe(40);
    // The big-endian variant swaps every number but the cylinders.
    expect(field(CCKD_LAYOUTS_BE.header, 'l1Entries').kind).toBe('u32be');
    expect(field(CCKD_LAYOUTS_BE.header, 'cylinders').kind).toBe('u32le');
  });
});

describe('CCKD header codec', () => {
  it('vector 03 decodes to the facts in its .txt, and re-encodes byte for byte', () => {
    const bytes = readFileSync(vectorPath('03_cckd3390_dasdinit_z_3cyl.cckd', '/tmp')).subarray(CCKD_HEADER_OFFSET, CCKD_HEADER_OFFSET + 512);
    const h = decodeCckdHeader(bytes);
    expect(h).toMatchObject({
      version: 0,
      release: 3,
      modLevel: 1,
      options: 0x41,
      l1Entries: 1,
      l2Entries: 256,
      fileBytes: 3418,
      usedBytes: 3418,
      cylinders: 3,
      nullFormat: 1,
      compression: 1,
      compressionParameter: 0xffff,
    });
    expect(encodeCckdHeader(h).equals(bytes)).toBe(true);
  });

  it('a big-endian header round-trips in big-endian order', () => {
    const h = {
      ...newCckdHeader({ cylinders: 7, l1Entries: 1, fileBytes: 1028, nullFormat: 1, compression: 1, compressionParameter: 0xffff }),
      options: CCKD_OPTION.BIG_ENDIAN,
    };
    const bytes = encodeCckdHeader(h);
    expect(bytes.readUInt32BE(4)).toBe(1);
    expect(bytes.readUInt32LE(40)).toBe(7);
    expect(decodeCckdHeader(bytes)).toEqual(h);
  });
});

describe('free space map (unit, against a plain model)', () => {
  it('allocates first fit without leaving slivers, reuses released space only after commit, and cuts a free tail', () => {
    const map = new FreeSpaceMap([{ offset: 2000, length: 100 }], 5000);
    expect(map.allocate(96)).toBe(5000); // 100 - 96 would leave a 4-byte sliver
    expect(map.allocate(100)).toBe(2000); // exact fit
    map.release({ offset: 5000, length: 96 });
    expect(map.allocate(50)).toBe(5096); // pending space is not reused yet
    map.release({ offset: 5096, length: 50 });
    map.commit();
    expect(map.fileBytes).toBe(5000); // the free tail went away
    expect(map.extents()).toEqual([]);
  });

  it('gapsBetween reports gaps and overlaps', () => {
    const { gaps, overlaps } = gapsBetween(
      [
        { offset: 0, length: 10 },
        { offset: 20, length: 10 },
        { offset: 25, length: 10 },
      ],
      0,
      50,
    );
    expect(gaps).toEqual([
      { offset: 10, length: 10 },
      { offset: 35, length: 15 },
    ]);
    expect(overlaps).toHaveLength(1);
  });
});

describe('null tracks', () => {
  it('formats 0, 1 and 2 are valid track images of their CCHH and are recognised', () => {
    const cchh = { cylinder: 2, head: 3 };
    expect(nullTrackImage(cchh, NULL_FORMAT.EMPTY)).toHaveLength(29);
    expect(nullTrackImage(cchh, NULL_FORMAT.EOF_RECORD)).toHaveLength(37);
    expect(nullTrackImage(cchh, NULL_FORMAT.LINUX)).toHaveLength(5 + 16 + 12 * (8 + 4096) + 8);
    for (const f of [0, 1, 2]) {
      const image = nullTrackImage(cchh, f);
      expect(trackUsedBytes(image, cchh, { path: 'x', trackIndex: 33 })).toBe(image.length);
    }
    expect(nullFormatOf(nullTrackImage(cchh, 0), cchh, NULL_FORMAT.EMPTY)).toBe(0);
    expect(nullFormatOf(nullTrackImage(cchh, 1), cchh, NULL_FORMAT.EMPTY)).toBe(1);
    expect(nullFormatOf(nullTrackImage(cchh, 1), { cylinder: 2, head: 4 }, NULL_FORMAT.EMPTY)).toBeUndefined();
    // In a file of header format 2 an entry of 0 reads as 2 (as Hercules reads it): fmt 0 is data there.
    expect(nullFormatOf(nullTrackImage(cchh, 0), cchh, NULL_FORMAT.LINUX)).toBeUndefined();
    expect(nullFormatOf(nullTrackImage(cchh, 1), cchh, NULL_FORMAT.LINUX)).toBe(1);
    expect(nullEntryFormat(NULL_FORMAT.EOF_RECORD, NULL_FORMAT.LINUX)).toBe(NULL_FORMAT.LINUX);
    expect(nullEntryFormat(NULL_FORMAT.EOF_RECORD, NULL_FORMAT.EMPTY)).toBe(NULL_FORMAT.EOF_RECORD);
  });
});
