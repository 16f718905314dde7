/**
 * Layer: layout. The clone bitmap header in native-layout/clone-bitmap-header.json equals the code's
 * table, its page lists every field at its offset and length, and the shared-memory constants of
 * the bit columns agree with native-layout/bit-columns.md. SNAPTAPE_WRITE_LAYOUTS=1 regenerates
 * the JSON (the switch of test/layout).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { layoutToJson } from '../../src/base/field-table.js';
import { BIT_COLUMNS_HEADER, BIT_COLUMNS_HEADER_BYTES, BitColumns, MAX_BIT_COLUMNS } from '../../src/engine/bit-columns.js';
import { CLONE_BITMAP_HEADER_LAYOUT, PERSISTED_COLUMNS } from '../../src/techniques/clone/clone-record.js';
import { CLONE_PHASES } from '../../src/techniques/clone/clone-phase.js';

const LAYOUT_DIR = fileURLToPath(new URL('../../native-layout/', import.meta.url));

describe('clone layouts', () => {
  it('clone-bitmap-header.json equals the code and clone-bitmap.md lists every field', () => {
    const path = `${LAYOUT_DIR}${CLONE_BITMAP_HEADER_LAYOUT.name}.json`;
    const expected = `${JSON.stringify(layoutToJson(CLONE_BITMAP_HEADER_LAYOUT), null, 2)}\n`;
    if (process.env['SNAPTAPE_WRITE_LAYOUTS'] === '1') writeFileSync(path, expected);
    expect(existsSync(path)).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(layoutToJson(CLONE_BITMAP_HEADER_LAYOUT));
    const page = readFileSync(`${LAYOUT_DIR}clone-bitmap.md`, 'utf8');
    for (const f of CLONE_BITMAP_HEADER_LAYOUT.fields) expect(page).toContain(`| ${f.offset} | ${f.length} | ${f.name} | ${f.kind} |`);
    expect(page).toMatch(/Byte order: .*little-endian/);
    expect(page).toMatch(/Reserved bytes/);
    expect(page).toContain('clone-bitmap-header.json');
    PERSISTED_COLUMNS.forEach((_, i) => expect(page).toMatch(new RegExp(`\\| ${i} \\| (CLONE PB|PRECOPY PB|IND|PART) \\|`)));
    const flat = page.replace(/\s+/g, ' ');
    CLONE_PHASES.forEach((phase, i) => expect(flat).toContain(`${i} ${phase}`));
  });

  it('bit-columns.md agrees with the shared-memory constants', () => {
    const page = readFileSync(`${LAYOUT_DIR}bit-columns.md`, 'utf8');
    for (const [name, index] of Object.entries(BIT_COLUMNS_HEADER)) expect(page).toContain(`| ${index * 4} | 4 | ${name} | i32 |`);
    expect(page).toContain(`| ${BIT_COLUMNS_HEADER_BYTES} | 4 × columns × wordsPerColumn | words | i32 |`);
    expect(page).toContain(`at most ${MAX_BIT_COLUMNS}`);
    const table = BitColumns.create(3, 70);
    expect(table.buffer.byteLength).toBe(BIT_COLUMNS_HEADER_BYTES + 3 * Math.ceil(70 / 32) * 4);
    table.set(2, 69);
    table.set(0, 0);
    expect([table.test(2, 69), table.test(1, 69), table.count(2), table.count(0)]).toEqual([true, false, 1, 1]);
    table.clear(2, 69);
    expect(table.count(2)).toBe(0);
  });
});
