/**
 * Layer: unit. ScatteredBytes: bytes in one buffer or several back to back; lengths and slices are
 * views (no copy), and only `gatherBytes` of several pieces copies.
 */
import { describe, expect, it } from 'vitest';
import { gatherBytes, scatteredLength, scatteredPieces, sliceScattered, type ScatteredBytes } from '../../src/base/scattered-bytes.js';

const whole = Buffer.from(Array.from({ length: 40 }, (_, i) => i + 1));
/** `whole` cut into pieces of 7, 0, 13, 1 and 19 bytes. */
const pieces = [whole.subarray(0, 7), whole.subarray(7, 7), whole.subarray(7, 20), whole.subarray(20, 21), whole.subarray(21)];

describe('ScatteredBytes', () => {
  it('has the length and bytes of its pieces, gathered once', () => {
    expect(scatteredLength(pieces)).toBe(40);
    expect(scatteredLength(whole)).toBe(40);
    expect(gatherBytes(pieces).equals(whole)).toBe(true);
    expect(gatherBytes(whole)).toBe(whole);
    expect(gatherBytes([whole])).toBe(whole);
    expect(scatteredPieces(whole)).toEqual([whole]);
  });

  it('slices as views of the same memory, one buffer where one piece holds the slice', () => {
    for (let start = 0; start <= 40; start += 3) {
      for (let end = start; end <= 40; end += 5) {
        const slice = sliceScattered(pieces, start, end);
        expect(gatherBytes(slice).equals(whole.subarray(start, end)), `[${start}, ${end})`).toBe(true);
        expect(scatteredLength(slice)).toBe(end - start);
        for (const piece of scatteredPieces(slice)) expect(piece.buffer).toBe(whole.buffer);
      }
    }
    const inOne: ScatteredBytes = sliceScattered(pieces, 8, 19);
    expect(Buffer.isBuffer(inOne)).toBe(true);
    expect(sliceScattered(whole, 3, 9)).toEqual(whole.subarray(3, 9));
  });
});
