/**
 * The unit copy: the one code that copies a unit's bytes from a source to a target, for every
 * technique, on a worker and on the owning thread alike: claim → read → write → mark → complete.
 * A background batch, a copy before a host write, a fetch on demand and a spool's drain all come
 * here; they differ only in who holds the claim and whether the copy completes it.
 *
 * What is written: for a placed target, the unit's bytes as planned (its prefix before them); for a
 * slot target with `trim`, the source slot up to its last non-zero byte, then zeros up to what the
 * target slot may still hold (its extent), so the target slot equals the source byte for byte and
 * a sparse source stays cheap; without `trim`, the whole slot. A slot target's relocated unit goes
 * to the track its plan names, its CCHH rewritten for that track (ckd/track-relocate.ts).
 *
 * Invariants: a unit this call claimed is completed or released before it returns or throws (with
 * an asynchronous sink: before its `acknowledged` settles); the extent and the marks are stored
 * before `complete`, whose notify releases waiters, so a waiter that sees COPIED sees them.
 */
import { BitColumns } from './bit-columns.js';
import { countCopies } from './copy-census.js';
import { relocateTrackImage } from '../ckd/track-relocate.js';
import type { CopyTarget, UnitCopyMarks, UnitRelocation } from './copy-plan.js';
import { waitForTargetSync, type TargetRate } from './target-rate.js';
import { UNIT_STATE, type TrackStateArray } from './track-state.js';
import type { UnitSink, UnitSource, UnitWrite } from './unit-ports.js';

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

export interface AttachedMarks {
  readonly columns: BitColumns;
  readonly clearColumns: readonly number[];
  readonly setColumns: readonly number[];
}

export function attachMarks(marks: readonly UnitCopyMarks[]): AttachedMarks[] {
  return marks.map((m) => ({ columns: BitColumns.attach(m.buffer), clearColumns: m.clearColumns, setColumns: m.setColumns }));
}

/** Everything one thread needs to copy units of one session. */
export interface UnitCopier {
  readonly states: TrackStateArray;
  readonly source: UnitSource;
  readonly sink: UnitSink;
  readonly target: CopyTarget;
  /** Int32 per unit: the target slot's extent (a tracked slot target only). */
  readonly extents?: Int32Array;
  readonly marks: readonly AttachedMarks[];
  /** Called with each batch's units once they are written, before they complete (a technique's own record). */
  readonly onWritten?: (units: readonly number[]) => void;
  readonly targetRate?: TargetRate;
}

export interface CopyHow {
  /** Claim the units here (PENDING → CLAIMED; others are skipped); false: the caller holds them. */
  readonly claim: boolean;
  /** With `claim`: read before claiming (copy-plan.ts `readBeforeClaim` says when that is sound). */
  readonly readBeforeClaim?: boolean;
  /** Complete the units (COPIED, or COPIED_OOO when out of order); false: someone else will. */
  readonly complete: boolean;
  /** A copy before a host write or a fetch on demand, not the background copy. */
  readonly outOfOrder: boolean;
}

export interface UnitCopyCount {
  readonly copied: number;
  readonly skipped: number;
  readonly bytes: number;
  /**
   * Only with an asynchronous sink (UnitSink.write returned a promise): settles once the target has
   * acknowledged the units and they are completed as `how` says; on a failure it rejects, the
   * units this call claimed released first. Until then they stay CLAIMED, so a host write that
   * meets one waits or sends it itself, as for a batch on a worker.
   */
  readonly acknowledged?: Promise<void>;
}

/**
 * Copies `units` (ascending copy units) as `how` says. Throws after releasing its own claims. With
 * an asynchronous sink the marks and the completion wait for the target's acknowledgement
 * (`acknowledged`): the engine still owns the whole copy, only its last steps come later.
 */
export function copyUnits(copier: UnitCopier, units: readonly number[], how: CopyHow): UnitCopyCount {
  const { states } = copier;
  let claimed: number[] = [];
  let payloads: Buffer[];
  let skipped = 0;
  try {
    if (!how.claim) {
      claimed = units.slice();
      payloads = copier.source.read(claimed);
    } else if (how.readBeforeClaim) {
      const pending = units.filter((u) => states.state(u) === UNIT_STATE.PENDING);
      skipped += units.length - pending.length;
      const read = copier.source.read(pending);
      payloads = [];
      pending.forEach((u, i) => {
        if (states.tryClaim(u)) {
          claimed.push(u);
          payloads.push(read[i] as Buffer);
        } else skipped++;
      });
    } else {
      for (const u of units) {
        if (states.tryClaim(u)) claimed.push(u);
        else skipped++;
      }
      payloads = copier.source.read(claimed);
    }
    const writes = claimed.map((unit, i) => shapeWrite(copier, unit, payloads[i] as Buffer));
    const sent = writes.length > 0 ? copier.sink.write(writes) : undefined;
    let bytes = 0;
    for (const w of writes) bytes += w.data.length;
    if (copier.targetRate && bytes > 0) waitForTargetSync(copier.targetRate, bytes);
    const count = { copied: writes.length, skipped, bytes };
    if (!(sent instanceof Promise)) {
      finishCopy(copier, claimed, writes, how, bytes);
      return count;
    }
    const held = claimed;
    const acknowledged = sent.then(
      () => {
        try {
          finishCopy(copier, held, writes, how, bytes);
        } catch (error) {
          releaseClaims(states, held, how);
          throw error;
        }
      },
      (error: unknown) => {
        releaseClaims(states, held, how);
        throw error;
      },
    );
    return { ...count, acknowledged };
  } catch (error) {
    releaseClaims(states, claimed, how);
    throw error;
  }
}

/** The unit copy's last steps once the target has the units: extents, marks, record, completion. */
function finishCopy(copier: UnitCopier, claimed: readonly number[], writes: readonly UnitWrite[], how: CopyHow, bytes: number): void {
  if (how.complete && writes.length > 0) {
    for (const w of writes) {
      if (copier.extents) Atomics.store(copier.extents, w.unit, w.usedBytes);
      for (const mark of copier.marks) {
        for (const c of mark.clearColumns) mark.columns.clear(c, w.unit);
        for (const c of mark.setColumns) mark.columns.set(c, w.unit);
      }
    }
    // Once per batch, not per unit: a batch of 1 MiB of FBA blocks is 2,048 units, and the
    // per-unit calls were most of a copy's time besides the I/O. Every unit's record is still
    // stored before any of them completes.
    copier.onWritten?.(claimed);
    copier.states.completeAll(claimed, how.outOfOrder, bytes);
  }
  // A worker's background copies are counted where its result arrives (background-copy.ts).
  if (how.outOfOrder) countCopies('host-driven', writes.length, bytes);
}

/** A failed copy gives back the units it claimed (still CLAIMED), so none is lost. */
function releaseClaims(states: TrackStateArray, claimed: readonly number[], how: CopyHow): void {
  if (how.claim) for (const u of claimed) if (states.state(u) === UNIT_STATE.CLAIMED) states.release(u);
}

/**
 * What a unit's write is: its planned bytes (placed), or trimmed up to the target's extent (slot),
 * relocated first when the plan sends it to another track.
 */
function shapeWrite(copier: UnitCopier, unit: number, source: Buffer): UnitWrite {
  const target = copier.target;
  if (target.kind === 'placed') return { unit, targetUnit: unit, data: source, usedBytes: source.length };
  const { targetUnit, payload } = relocated(target.relocation, unit, source);
  if (!target.trim) return { unit, targetUnit, data: payload, usedBytes: Math.min(payload.length, copier.source.usedBytes?.(unit) ?? payload.length) };
  const used = nonZeroLength(payload);
  const extent = copier.extents ? Atomics.load(copier.extents, unit) : payload.length;
  return { unit, targetUnit, data: payload.subarray(0, Math.max(used, extent)), usedBytes: used };
}

/** Where a unit goes and its bytes there: a relocated track names its new place (its CCHH). */
function relocated(relocation: UnitRelocation | undefined, unit: number, source: Buffer): { targetUnit: number; payload: Buffer } {
  const targetUnit = relocation ? (relocation.targetUnits[unit] as number) : unit;
  if (!relocation || targetUnit === unit) return { targetUnit, payload: source };
  const cchh = { cylinder: Math.floor(targetUnit / relocation.heads), head: targetUnit % relocation.heads };
  return { targetUnit, payload: relocateTrackImage(source, cchh, { path: relocation.sourcePath, trackIndex: unit }) };
}
