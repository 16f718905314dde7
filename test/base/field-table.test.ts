/**
 * The one codec for fixed layouts: `encodeFieldsInto` writes the record `encodeFields` builds, in
 * place in a larger buffer (a backup's table of block headers), and touches nothing around it.
 */
import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeFields, encodeFieldsInto } from '../../src/base/field-table.js';
import { AWS_BLOCK_HEADER_LAYOUT, AWS_HEADER_BYTES, blockHeaderBytes, writeBlockHeader } from '../../src/tape/aws-block-header.js';
import { DISK_VOL1_LAYOUT } from '../../src/vtoc/dscb-layouts.js';

describe('encodeFieldsInto', () => {
  it('writes the same bytes as encodeFields, at the offset, and nothing around them', () => {
    for (let i = 0; i < 50; i++) {
      const values = { curlen: randomInt(65536), prvlen: randomInt(65536), flags1: randomInt(256), flags2: randomInt(256) };
      const offset = randomInt(64);
      const target = Buffer.alloc(offset + AWS_HEADER_BYTES + 16, 0x5a);
      encodeFieldsInto(AWS_BLOCK_HEADER_LAYOUT, values, target, offset);
      expect(target.subarray(offset, offset + AWS_HEADER_BYTES)).toEqual(encodeFields(AWS_BLOCK_HEADER_LAYOUT, values));
      expect(target.subarray(0, offset).every((b) => b === 0x5a)).toBe(true);
      expect(target.subarray(offset + AWS_HEADER_BYTES).every((b) => b === 0x5a)).toBe(true);
    }
  });

  it('fills the fields not given with the layout fill byte, over what was there', () => {
    const target = Buffer.alloc(DISK_VOL1_LAYOUT.size + 10, 0x11);
    encodeFieldsInto(DISK_VOL1_LAYOUT, { volser: 'ABC123' }, target, 10);
    expect(target.subarray(10)).toEqual(encodeFields(DISK_VOL1_LAYOUT, { volser: 'ABC123' }));
  });

  it('refuses a name the layout does not have, and a record that does not fit', () => {
    expect(() => encodeFieldsInto(AWS_BLOCK_HEADER_LAYOUT, { curlen: 1, nosuch: 2 }, Buffer.alloc(6), 0)).toThrow(/nosuch/);
    expect(() => encodeFieldsInto(AWS_BLOCK_HEADER_LAYOUT, { curlen: 1 }, Buffer.alloc(8), 3)).toThrow(/fits/);
  });

  it('gives a tape block header in place equal to blockHeaderBytes', () => {
    const table = Buffer.alloc(3 * AWS_HEADER_BYTES);
    const blocks = [
      { lengthBytes: 56_832, previousChunkBytes: 0 },
      { lengthBytes: 80, previousChunkBytes: 56_832 },
      { lengthBytes: 65_535, previousChunkBytes: 80 },
    ];
    blocks.forEach((b, i) => writeBlockHeader(b, table, i * AWS_HEADER_BYTES));
    expect(table).toEqual(Buffer.concat(blocks.map((b) => blockHeaderBytes(b))));
  });
});
