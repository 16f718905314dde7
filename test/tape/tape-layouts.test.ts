/**
 * Layer: layout. The machine-readable tables in native-layout/*.json must equal the TypeScript
 * layouts the code encodes and decodes with. Run with SNAPTAPE_WRITE_LAYOUTS=1 to regenerate them.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { layoutToJson, type Layout } from '../../src/base/field-table.js';
import { AWS_BLOCK_HEADER_LAYOUT } from '../../src/tape/aws-block-header.js';
import { TAPE_LABEL_LAYOUTS } from '../../src/tape/label-layouts.js';

const LAYOUT_DIR = fileURLToPath(new URL('../../native-layout/', import.meta.url));
const TAPE_LAYOUTS: readonly Layout[] = [AWS_BLOCK_HEADER_LAYOUT, ...TAPE_LABEL_LAYOUTS];

describe('tape native-layout tables', () => {
  for (const layout of TAPE_LAYOUTS) {
    it(`${layout.name}.json equals the code's layout`, () => {
      const path = `${LAYOUT_DIR}${layout.name}.json`;
      const expected = `${JSON.stringify(layoutToJson(layout), null, 2)}\n`;
      if (process.env['SNAPTAPE_WRITE_LAYOUTS'] === '1') writeFileSync(path, expected);
      expect(existsSync(path), `${path} exists (regenerate with SNAPTAPE_WRITE_LAYOUTS=1)`).toBe(true);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(layoutToJson(layout));
    });

    it(`${layout.name}.md lists every field at its columns`, () => {
      const page = readFileSync(`${LAYOUT_DIR}${layout.name}.md`, 'utf8');
      for (const f of layout.fields) {
        const columns =
          layout.name === 'aws-block-header'
            ? `| ${f.offset} | ${f.length} | ${f.name} |`
            : `| ${f.offset + 1}–${f.offset + f.length} | ${f.offset} | ${f.length} | ${f.name} |`;
        expect(page, `${layout.name}.md row for ${f.name}`).toContain(columns);
      }
    });
  }
});
