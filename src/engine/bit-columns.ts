/**
 * Bitmap columns in shared memory: a table of `columnCount` bitmaps of `unitCount` bits each, in a
 * SharedArrayBuffer, read and written with Atomics by the owning thread and the copy workers. A
 * technique that tracks more than one fact per unit (clone: the CLONE and PRECOPY protection bits of
 * each session, the IND bit of a destination) keeps each fact as one column here, next to the
 * track-state array that decides who copies a unit (track-state.ts: the claim/wait primitive).
 *
 * Layout (native-layout/bit-columns.md), native-endian, never persisted as is:
 *   bytes 0-15  Int32 words: columnCount, unitCount, wordsPerColumn, reserved (0)
 *   bytes 16-   column c, unit u: bit (u mod 32) of Int32 word (c × wordsPerColumn + floor(u / 32))
 *
 * Invariants: bits past `unitCount` in a column's last word stay zero; a set or clear is one
 * Atomics.or / Atomics.and, so concurrent writers of different bits of one word never lose an update.
 */
import { assert } from '../base/assert.js';

export const BIT_COLUMNS_HEADER = { columnCount: 0, unitCount: 1, wordsPerColumn: 2 } as const;
export const BIT_COLUMNS_HEADER_BYTES = 16;
const BITS_PER_WORD = 32;
/** Columns in one table: 8 clone sessions × 2 protection bits is the largest user, with room. */
export const MAX_BIT_COLUMNS = 32;

export class BitColumns {
  // Shared, Atomics only.
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;
  // Set once.
  readonly columnCount: number;
  readonly unitCount: number;
  private readonly wordsPerColumn: number;

  private constructor(buffer: SharedArrayBuffer) {
    const header = new Int32Array(buffer, 0, BIT_COLUMNS_HEADER_BYTES / 4);
    this.buffer = buffer;
    this.columnCount = header[BIT_COLUMNS_HEADER.columnCount] as number;
    this.unitCount = header[BIT_COLUMNS_HEADER.unitCount] as number;
    this.wordsPerColumn = header[BIT_COLUMNS_HEADER.wordsPerColumn] as number;
    this.words = new Int32Array(buffer, BIT_COLUMNS_HEADER_BYTES, this.columnCount * this.wordsPerColumn);
  }

  /** A new table with every bit clear. */
  static create(columnCount: number, unitCount: number): BitColumns {
    assert(Number.isInteger(columnCount) && columnCount >= 1 && columnCount <= MAX_BIT_COLUMNS, `1-${MAX_BIT_COLUMNS} columns`);
    assert(Number.isInteger(unitCount) && unitCount >= 1, 'a column has at least one unit');
    const wordsPerColumn = Math.ceil(unitCount / BITS_PER_WORD);
    const buffer = new SharedArrayBuffer(BIT_COLUMNS_HEADER_BYTES + columnCount * wordsPerColumn * 4);
    const header = new Int32Array(buffer, 0, BIT_COLUMNS_HEADER_BYTES / 4);
    header[BIT_COLUMNS_HEADER.columnCount] = columnCount;
    header[BIT_COLUMNS_HEADER.unitCount] = unitCount;
    header[BIT_COLUMNS_HEADER.wordsPerColumn] = wordsPerColumn;
    return new BitColumns(buffer);
  }

  static attach(buffer: SharedArrayBuffer): BitColumns {
    return new BitColumns(buffer);
  }

  private at(column: number, unit: number): number {
    assert(column >= 0 && column < this.columnCount, `column ${column} of ${this.columnCount}`);
    assert(unit >= 0 && unit < this.unitCount, `unit ${unit} of ${this.unitCount}`);
    return column * this.wordsPerColumn + Math.floor(unit / BITS_PER_WORD);
  }

  test(column: number, unit: number): boolean {
    return (Atomics.load(this.words, this.at(column, unit)) & (1 << (unit % BITS_PER_WORD))) !== 0;
  }

  set(column: number, unit: number): void {
    Atomics.or(this.words, this.at(column, unit), 1 << (unit % BITS_PER_WORD));
  }

  clear(column: number, unit: number): void {
    Atomics.and(this.words, this.at(column, unit), ~(1 << (unit % BITS_PER_WORD)));
  }

  /** Clears a whole column (set-up and release, while no other thread writes it). */
  clearColumn(column: number): void {
    const first = this.at(column, 0);
    for (let w = first; w < first + this.wordsPerColumn; w++) Atomics.store(this.words, w, 0);
  }

  /** Bits set in a column (a scan: for status, not the hot path). */
  count(column: number): number {
    const first = this.at(column, 0);
    let n = 0;
    for (let w = first; w < first + this.wordsPerColumn; w++) {
      let v = Atomics.load(this.words, w) >>> 0;
      // Bounded: each step clears the lowest set bit of a 32-bit word.
      while (v !== 0) {
        v &= v - 1;
        n++;
      }
    }
    return n;
  }

  /** A copy of one column's words (little pieces of the persisted session bitmap). */
  snapshotColumn(column: number): Int32Array {
    const first = this.at(column, 0);
    return Int32Array.from({ length: this.wordsPerColumn }, (_, i) => Atomics.load(this.words, first + i));
  }

  get bytesPerColumn(): number {
    return this.wordsPerColumn * 4;
  }
}
