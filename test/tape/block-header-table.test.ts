/**
 * Layer: unit. `writeBlockHeaders` (a backup's table of headers, made at its start instant in one
 * loop) writes the very bytes `writeBlockHeader` writes block by block, and refuses a length that
 * is no AWSTAPE chunk.
 */
import { describe, expect, it } from 'vitest';
import { AWS_HEADER_BYTES, writeBlockHeader, writeBlockHeaders } from '../../src/tape/aws-block-header.js';
import { Prng } from '../../src/base/prng.js';

describe('a table of block headers', () => {
  it('holds the same bytes as the headers written one by one, the first after a tapemark', () => {
    const prng = new Prng(22);
    const lengths = Int32Array.from({ length: 500 }, () => 1 + prng.below(0xffff));
    const table = Buffer.alloc(lengths.length * AWS_HEADER_BYTES, 0xee);
    const oneByOne = Buffer.alloc(lengths.length * AWS_HEADER_BYTES, 0xee);
    // Two files: slots 0-199 and 200-499, each starting after a tapemark.
    writeBlockHeaders(lengths, 0, 200, table);
    writeBlockHeaders(lengths, 200, 300, table);
    for (let i = 0; i < lengths.length; i++) {
      const previous = i === 0 || i === 200 ? 0 : (lengths[i - 1] as number);
      writeBlockHeader({ lengthBytes: lengths[i] as number, previousChunkBytes: previous }, oneByOne, i * AWS_HEADER_BYTES);
    }
    expect(table.equals(oneByOne)).toBe(true);
  });

  it.each([0, 0x10000, 1.5, Number.NaN])('refuses a block of %s bytes', (length) => {
    expect(() => writeBlockHeaders([100, length], 0, 2, Buffer.alloc(12))).toThrow(/lengthBytes/);
  });
});
