/**
 * Layer: layout. The subsystem folder's tables in native-layout/*.json must equal the layouts the
 * code uses, the page must list every field at its offset and length and state byte order and the
 * reserved-bytes rule, and the constants beside the tables must agree with them. Run with
 * SNAPTAPE_WRITE_LAYOUTS=1 to regenerate the JSON (as test/layout/native-layout.test.ts).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { field, layoutToJson } from '../../src/base/field-table.js';
import { CKD_HEADER_BYTES } from '../../src/image/ckd-image-header.js';
import {
  DIRECTORY_ENTRY_BYTES,
  DIRECTORY_ENTRY_LAYOUT,
  DIRECTORY_HEADER_LAYOUT,
  ENTRY_EXTENT_OFFSET,
  ENTRY_FLAGS_OFFSET,
  ENTRY_SLOT_OFFSET,
  POOL_HEADER_LAYOUT,
  REFCOUNT_BYTES,
  REFS_HEADER_LAYOUT,
} from '../../src/subsystem/subsystem-layouts.js';
import { FAMILY_3380, FAMILY_3390 } from '../../src/geometry/device-types.js';

const LAYOUT_DIR = fileURLToPath(new URL('../../native-layout/', import.meta.url));
const PAGE = 'mapped-subsystem.md';

describe('subsystem folder native-layout tables', () => {
  for (const layout of [POOL_HEADER_LAYOUT, REFS_HEADER_LAYOUT, DIRECTORY_HEADER_LAYOUT, DIRECTORY_ENTRY_LAYOUT]) {
    it(`${layout.name}.json equals the code's layout, and ${PAGE} lists it`, () => {
      const path = `${LAYOUT_DIR}${layout.name}.json`;
      const expected = `${JSON.stringify(layoutToJson(layout), null, 2)}\n`;
      if (process.env['SNAPTAPE_WRITE_LAYOUTS'] === '1') writeFileSync(path, expected);
      expect(existsSync(path)).toBe(true);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(layoutToJson(layout));
      const text = readFileSync(`${LAYOUT_DIR}${PAGE}`, 'utf8');
      for (const f of layout.fields)
        expect(text, `${PAGE} row for ${layout.name}.${f.name}`).toContain(`| ${f.offset} | ${f.length} | ${f.name} | ${f.kind} |`);
      expect(text).toMatch(/Byte order: .*little-endian/);
      expect(text).toMatch(/Reserved bytes/);
      expect(text).toContain(`${layout.name}.json`);
    });
  }

  it('constants beside the tables agree with them', () => {
    expect(DIRECTORY_ENTRY_BYTES).toBe(8);
    expect([ENTRY_SLOT_OFFSET, ENTRY_EXTENT_OFFSET, ENTRY_FLAGS_OFFSET]).toEqual(
      ['slot', 'extentBytes', 'flags'].map((n) => field(DIRECTORY_ENTRY_LAYOUT, n).offset),
    );
    expect(REFCOUNT_BYTES).toBe(4);
    // Slot data starts where a CKD image's track data does, and an extent fits the u16 field.
    expect(POOL_HEADER_LAYOUT.size).toBe(CKD_HEADER_BYTES);
    for (const family of [FAMILY_3390, FAMILY_3380]) expect(family.trackSlotBytes).toBeLessThanOrEqual(0xffff);
    expect(readFileSync(`${LAYOUT_DIR}snapshot-token.md`, 'utf8')).toContain('TOKEN_TRANSITIONS');
  });
});
