/**
 * The free space of a CCKD file: the gaps between the headers, the L1 table, the L2 tables and the
 * track images. Hercules keeps it as a chain of free blocks (each starts with the next block's
 * offset and its own length, cckd-tables.md) in ascending order; snaptape keeps it as a sorted
 * list in memory and writes the chain back on flush.
 *
 * Invariants:
 * - free extents are sorted, never touch or overlap, and are each at least FREE_BLOCK_MIN_BYTES
 *   (the chain entry must fit inside the block);
 * - space released by a write is *pending* until the next flush: the L2 entries on disk may still
 *   point at it, so it is not reused before they are rewritten (Hercules "free pending");
 * - the file ends where the last allocated space ends (a free tail is cut off at flush).
 */
import { assert } from '../base/assert.js';
import { CCKD_FREE_BLOCK_LAYOUT } from './cckd-layouts.js';

/** A free block holds its own chain entry. */
export const FREE_BLOCK_MIN_BYTES = CCKD_FREE_BLOCK_LAYOUT.size;

export interface Extent {
  readonly offset: number;
  readonly length: number;
}

export interface FreeStats {
  readonly totalBytes: number;
  readonly largestBytes: number;
  readonly count: number;
}

/** Sorts extents and returns the gaps between them from `start` to `end` (and the overlaps). */
export function gapsBetween(used: readonly Extent[], start: number, end: number): { gaps: Extent[]; overlaps: Array<[Extent, Extent]> } {
  const sorted = [...used].sort((a, b) => a.offset - b.offset);
  const gaps: Extent[] = [];
  const overlaps: Array<[Extent, Extent]> = [];
  let at = start;
  let last: Extent | undefined;
  for (const e of sorted) {
    if (e.offset < at && last) overlaps.push([last, e]);
    else if (e.offset > at) gaps.push({ offset: at, length: e.offset - at });
    if (e.offset + e.length > at) {
      at = e.offset + e.length;
      last = e;
    }
  }
  if (end > at) gaps.push({ offset: at, length: end - at });
  return { gaps, overlaps };
}

export class FreeSpaceMap {
  // Main thread only.
  private free: Extent[];
  private pending: Extent[] = [];
  private endBytes: number;

  constructor(free: readonly Extent[], fileBytes: number) {
    this.free = [...free].sort((a, b) => a.offset - b.offset);
    this.endBytes = fileBytes;
  }

  get fileBytes(): number {
    return this.endBytes;
  }

  /** Space for `length` bytes: first fit that leaves no unusable sliver, else the end of the file. */
  allocate(length: number): number {
    assert(length > 0, 'allocations have a length');
    for (let i = 0; i < this.free.length; i++) {
      const e = this.free[i] as Extent;
      if (e.length !== length && e.length < length + FREE_BLOCK_MIN_BYTES) continue;
      if (e.length === length) this.free.splice(i, 1);
      else this.free[i] = { offset: e.offset + length, length: e.length - length };
      return e.offset;
    }
    const offset = this.endBytes;
    this.endBytes += length;
    return offset;
  }

  /** Gives space back; it becomes reusable at the next `commit`. */
  release(extent: Extent): void {
    assert(extent.length >= FREE_BLOCK_MIN_BYTES, 'released spaces can hold a chain entry');
    this.pending.push(extent);
  }

  /** After the tables on disk no longer point at pending space: merge it in and cut a free tail. */
  commit(): void {
    const all = [...this.free, ...this.pending].sort((a, b) => a.offset - b.offset);
    this.pending = [];
    const merged: Extent[] = [];
    for (const e of all) {
      const last = merged[merged.length - 1];
      assert(!last || last.offset + last.length <= e.offset, `free extents at ${last?.offset} and ${e.offset} do not overlap`);
      if (last && last.offset + last.length === e.offset) merged[merged.length - 1] = { offset: last.offset, length: last.length + e.length };
      else merged.push(e);
    }
    const tail = merged[merged.length - 1];
    if (tail && tail.offset + tail.length === this.endBytes) {
      merged.pop();
      this.endBytes = tail.offset;
    }
    this.free = merged;
  }

  /** The committed free extents in ascending order (what the chain on disk lists). */
  extents(): readonly Extent[] {
    return this.free;
  }

  stats(): FreeStats {
    let totalBytes = 0;
    let largestBytes = 0;
    for (const e of this.free) {
      totalBytes += e.length;
      largestBytes = Math.max(largestBytes, e.length);
    }
    return { totalBytes, largestBytes, count: this.free.length };
  }
}
