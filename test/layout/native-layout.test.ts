/**
 * Layer: layout. The DASD tables in native-layout/*.json must equal the TypeScript layouts the code
 * encodes and decodes with, each page must list every field at its offset and length and state the
 * byte order and the reserved-bytes rule, and the constants the code uses beside the tables must
 * agree with them. Run with SNAPTAPE_WRITE_LAYOUTS=1 to regenerate the JSON (the same switch as
 * test/tape/tape-layouts.test.ts, which covers the tape layouts).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { field, layoutToJson, type Layout } from '../../src/base/field-table.js';
import { COUNT_FIELD_LAYOUT, EMPTY_TRACK_BYTES, END_OF_TRACK_MARKER, HOME_ADDRESS_LAYOUT, R0_DATA_BYTES } from '../../src/ckd/track-layout.js';
import { CKD_HEADER_BYTES, CKD_HEADER_LAYOUT } from '../../src/image/ckd-image-header.js';
import { TRACK_SIZE_STORE_LAYOUT } from '../../src/volume/track-size-store.js';
import { SPOOL_ENTRY_LAYOUT } from '../../src/techniques/tape-backup/backup-spool.js';
import {
  CCHHR_BYTES,
  CCHHR_LAYOUT,
  DISK_VOL1_LAYOUT,
  DSCB_BYTES,
  DSCB_DATA_BYTES,
  DSCB_FORMAT_ID_OFFSET,
  DSCB_KEY_BYTES,
  EXTENT_BYTES,
  EXTENT_LAYOUT,
  F3_EXTENTS_IN_DATA,
  F3_EXTENTS_IN_KEY,
  F5_EXTENTS_IN_DATA,
  F5_EXTENTS_IN_KEY,
  FORMAT1_LAYOUT,
  FORMAT3_LAYOUT,
  FORMAT4_LAYOUT,
  FORMAT5_LAYOUT,
  FREE_EXTENT_BYTES,
  FREE_EXTENT_LAYOUT,
  VOL1_DATA_BYTES,
} from '../../src/vtoc/dscb-layouts.js';

const LAYOUT_DIR = fileURLToPath(new URL('../../native-layout/', import.meta.url));

/** Each DASD layout and the page that describes it. */
const DASD_LAYOUTS: ReadonlyArray<{ layout: Layout; page: string }> = [
  { layout: CKD_HEADER_LAYOUT, page: 'ckd-image-header.md' },
  { layout: HOME_ADDRESS_LAYOUT, page: 'ckd-track.md' },
  { layout: COUNT_FIELD_LAYOUT, page: 'ckd-track.md' },
  { layout: DISK_VOL1_LAYOUT, page: 'disk-vol1.md' },
  { layout: FORMAT1_LAYOUT, page: 'dscb-format1.md' },
  { layout: FORMAT3_LAYOUT, page: 'dscb-format3.md' },
  { layout: FORMAT4_LAYOUT, page: 'dscb-format4.md' },
  { layout: FORMAT5_LAYOUT, page: 'dscb-format5.md' },
  { layout: EXTENT_LAYOUT, page: 'dscb-extent.md' },
  { layout: FREE_EXTENT_LAYOUT, page: 'dscb-extent.md' },
  { layout: CCHHR_LAYOUT, page: 'dscb-extent.md' },
  { layout: TRACK_SIZE_STORE_LAYOUT, page: 'track-size-store.md' },
  { layout: SPOOL_ENTRY_LAYOUT, page: 'backup-spool.md' },
];

describe('DASD native-layout tables', () => {
  for (const { layout, page } of DASD_LAYOUTS) {
    it(`${layout.name}.json equals the code's layout`, () => {
      const path = `${LAYOUT_DIR}${layout.name}.json`;
      const expected = `${JSON.stringify(layoutToJson(layout), null, 2)}\n`;
      if (process.env['SNAPTAPE_WRITE_LAYOUTS'] === '1') writeFileSync(path, expected);
      expect(existsSync(path), `${path} exists (regenerate with SNAPTAPE_WRITE_LAYOUTS=1)`).toBe(true);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(layoutToJson(layout));
    });

    it(`${page} lists every field of ${layout.name} at its offset and length`, () => {
      const text = readFileSync(`${LAYOUT_DIR}${page}`, 'utf8');
      for (const f of layout.fields) expect(text, `${page} row for ${f.name}`).toContain(`| ${f.offset} | ${f.length} | ${f.name} | ${f.kind} |`);
      expect(text).toMatch(/Byte order: .*(big|little)-endian/);
      expect(text).toMatch(/Reserved bytes/);
      expect(text).toContain(`${layout.name}.json`);
    });
  }

  it('every DASD page names a layout, and every DASD JSON table has a layout', () => {
    const pages = new Set(DASD_LAYOUTS.map((l) => l.page));
    for (const page of pages) expect(existsSync(`${LAYOUT_DIR}${page}`), page).toBe(true);
  });
});

describe('constants beside the tables agree with them', () => {
  it('CKD image header and track', () => {
    expect(CKD_HEADER_BYTES).toBe(CKD_HEADER_LAYOUT.size);
    expect(CKD_HEADER_LAYOUT.size).toBe(512);
    expect(END_OF_TRACK_MARKER.length).toBe(COUNT_FIELD_LAYOUT.size);
    expect(EMPTY_TRACK_BYTES).toBe(HOME_ADDRESS_LAYOUT.size + COUNT_FIELD_LAYOUT.size + R0_DATA_BYTES + COUNT_FIELD_LAYOUT.size);
    expect(EMPTY_TRACK_BYTES).toBe(29);
  });

  it('DSCBs: sizes, the format id offset, and where extents and free extents sit', () => {
    expect(DSCB_BYTES).toBe(DSCB_KEY_BYTES + DSCB_DATA_BYTES);
    for (const layout of [FORMAT1_LAYOUT, FORMAT3_LAYOUT, FORMAT4_LAYOUT, FORMAT5_LAYOUT]) {
      expect(layout.size).toBe(DSCB_BYTES);
      expect(field(layout, 'formatId').offset).toBe(DSCB_FORMAT_ID_OFFSET);
    }
    expect(field(FORMAT1_LAYOUT, 'dsname').length).toBe(DSCB_KEY_BYTES);
    expect(EXTENT_LAYOUT.size).toBe(EXTENT_BYTES);
    expect(FREE_EXTENT_LAYOUT.size).toBe(FREE_EXTENT_BYTES);
    expect(CCHHR_LAYOUT.size).toBe(CCHHR_BYTES);
    expect(DISK_VOL1_LAYOUT.size).toBe(VOL1_DATA_BYTES);
    for (const name of ['extent1', 'extent2', 'extent3']) expect(field(FORMAT1_LAYOUT, name).length).toBe(EXTENT_BYTES);
    for (const name of ['format3Pointer']) expect(field(FORMAT1_LAYOUT, name).length).toBe(CCHHR_BYTES);
    expect(field(DISK_VOL1_LAYOUT, 'vtocPointer').length).toBe(CCHHR_BYTES);
    // Format-3: 4 extents in the key, 9 in the data, all 10 bytes, then the 5-byte pointer at 135.
    const f3Extents = FORMAT3_LAYOUT.fields.filter((f) => f.name.startsWith('extent'));
    expect(f3Extents).toHaveLength(F3_EXTENTS_IN_KEY + F3_EXTENTS_IN_DATA);
    expect(f3Extents.filter((f) => f.offset < DSCB_KEY_BYTES)).toHaveLength(F3_EXTENTS_IN_KEY);
    for (const f of f3Extents) expect(f.length).toBe(EXTENT_BYTES);
    // Format-5: 8 free extents in the key, 18 in the data.
    const f5Free = FORMAT5_LAYOUT.fields.filter((f) => f.name.startsWith('free'));
    expect(f5Free).toHaveLength(F5_EXTENTS_IN_KEY + F5_EXTENTS_IN_DATA);
    expect(f5Free.filter((f) => f.offset < DSCB_KEY_BYTES)).toHaveLength(F5_EXTENTS_IN_KEY);
    for (const f of f5Free) expect(f.length).toBe(FREE_EXTENT_BYTES);
    for (const layout of [FORMAT1_LAYOUT, FORMAT3_LAYOUT, FORMAT5_LAYOUT]) {
      const last = layout.fields[layout.fields.length - 1];
      expect([last?.offset, last?.length]).toEqual([DSCB_BYTES - CCHHR_BYTES, CCHHR_BYTES]);
    }
  });
});
