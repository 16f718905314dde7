/**
 * The second copy of the engine: units from one volume to the same units of another (a clone).
 * One function, `copyClaimedUnit`, decides what bytes a unit copy writes; the piscina worker
 * (unit-copy-worker.ts) and the owning thread (a copy before a host write, a fetch on demand, a
 * backend that workers cannot read) both go through it, so there is one copy engine.
 *
 * What is written: the source slot's bytes up to its last non-zero byte (for CKD that is the used
 * track image HA..EOT, or more if a raw write left bytes past the marker), then zeros up to what the
 * target slot may still hold (`extents[unit]`, its own last possibly non-zero byte). The target slot
 * then equals the source slot byte for byte, and a sparse source stays cheap to copy.
 *
 * Invariants: the caller holds the unit's claim (track-state.ts); the extent and the marks are
 * stored before `complete`, whose notify releases waiters, so a waiter that sees COPIED sees them.
 */
import { BitColumns } from './bit-columns.js';
import type { TrackStateArray } from './track-state.js';
import type { CopyPacing } from './copy-task.js';
import type { FileUnitLocation } from '../image/image-backend.js';
import type { ErrorData } from '../errors/snaptape-error.js';

/** Bits to change when a unit is copied: in `marks`, clear these columns and set those. */
export interface UnitCopyMarks {
  readonly buffer: SharedArrayBuffer;
  readonly clearColumns: readonly number[];
  readonly setColumns: readonly number[];
}

export interface UnitCopyTask {
  /** Claims: one state slot per unit, indexed by unit number. */
  readonly stateBuffer: SharedArrayBuffer;
  readonly source: FileUnitLocation;
  readonly target: FileUnitLocation;
  /** Units to copy, ascending. */
  readonly units: Int32Array;
  /** Int32 per unit: bytes of the target slot that may be non-zero (updated by every copy). */
  readonly extentBuffer: SharedArrayBuffer;
  /** Bit columns changed per unit copied (a mark list per table). */
  readonly marks: readonly UnitCopyMarks[];
  /** True: write only the source's non-zero prefix (CKD tracks); false: whole slots (FBA blocks). */
  readonly trim: boolean;
  readonly pacing: CopyPacing;
}

export interface UnitCopyResult {
  readonly copied: number;
  readonly skipped: number;
  readonly bytes: number;
  readonly error?: ErrorData;
}

/** Bytes compared at a time while looking for a slot's last non-zero byte. */
const ZERO_SCAN_BYTES = 4096;
const ZEROES = Buffer.alloc(ZERO_SCAN_BYTES);

/** Length of `slot` up to and including its last non-zero byte (0 for an all-zero slot). */
export function nonZeroLength(slot: Buffer): number {
  let end = slot.length;
  // Bounded: each step moves `end` back by up to ZERO_SCAN_BYTES.
  while (end > 0) {
    const start = Math.max(0, end - ZERO_SCAN_BYTES);
    if (slot.compare(ZEROES, 0, end - start, start, end) !== 0) {
      for (let i = end - 1; i >= start; i--) if (slot[i] !== 0) return i + 1;
    }
    end = start;
  }
  return 0;
}

export interface ClaimedUnitCopy {
  readonly states: TrackStateArray;
  readonly unit: number;
  /** The whole source slot. */
  readonly slot: Buffer;
  readonly extents: Int32Array;
  readonly marks: readonly { readonly columns: BitColumns; readonly clearColumns: readonly number[]; readonly setColumns: readonly number[] }[];
  readonly trim: boolean;
  /** True for a copy before a host write or a fetch on demand (COPIED_OOO). */
  readonly outOfOrder: boolean;
  /** Writes `data` at the start of the target's slot for `unit`. */
  readonly write: (unit: number, data: Buffer) => void;
}

/** Writes one claimed unit to the target, records its extent and marks, and completes the claim. */
export function copyClaimedUnit(copy: ClaimedUnitCopy): number {
  const { unit, slot, extents } = copy;
  const used = copy.trim ? nonZeroLength(slot) : slot.length;
  const writeBytes = Math.max(used, Atomics.load(extents, unit));
  if (writeBytes > 0) copy.write(unit, slot.subarray(0, writeBytes));
  Atomics.store(extents, unit, used);
  for (const mark of copy.marks) {
    for (const c of mark.clearColumns) mark.columns.clear(c, unit);
    for (const c of mark.setColumns) mark.columns.set(c, unit);
  }
  copy.states.complete(unit, copy.outOfOrder, writeBytes);
  return writeBytes;
}

export function attachMarks(marks: readonly UnitCopyMarks[]): ClaimedUnitCopy['marks'] {
  return marks.map((m) => ({ columns: BitColumns.attach(m.buffer), clearColumns: m.clearColumns, setColumns: m.setColumns }));
}
