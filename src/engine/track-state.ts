/**
 * The track-state array of a copy session: one Int32 slot per copy unit (a CKD track, or a group of
 * FBA blocks) in a SharedArrayBuffer, shared by the owning thread and the piscina workers, plus a
 * few counters and a control word. The claim/wait primitive is the one place where conflicts over a
 * unit are resolved (ARCHITECTURE.md, the copy-before-write protocol).
 *
 * Layout (native-layout/track-state.md), all native-endian:
 *   bytes  0-15  BigInt64 counters: bytes copied in order, bytes copied out of order
 *   bytes 16-63  Int32 words: control, copied in order, copied out of order, released, ...
 *   bytes 64-    Int32 state per unit
 *
 * Transitions (the table below): PENDING→CLAIMED by compareExchange only; CLAIMED→COPIED or
 * COPIED_OOO by the claimant, or CLAIMED→PENDING when its copy failed; every store that leaves
 * CLAIMED notifies the unit's waiters. COPIED or COPIED_OOO→PENDING (`reopen`) only by the owning
 * thread of a clone in precopy, after a host write to a copied unit (the tape backup never reopens).
 */
import { assert } from '../base/assert.js';

export const UNIT_STATE = { PENDING: 0, CLAIMED: 1, COPIED: 2, COPIED_OOO: 3, EXCLUDED: 4 } as const;
export type UnitState = (typeof UNIT_STATE)[keyof typeof UNIT_STATE];
// `snapshotStates` reads the states with a bulk copy that may tear bytes: one byte each keeps it whole.
assert(
  Object.values(UNIT_STATE).every((state) => state >= 0 && state <= 0xff),
  'every unit state fits its low byte',
);
export const UNIT_STATE_NAMES: Readonly<Record<UnitState, string>> = { 0: 'pending', 1: 'claimed', 2: 'copied', 3: 'copied-out-of-order', 4: 'excluded' };

/** Allowed transitions: from → the states it may go to. */
export const UNIT_STATE_TRANSITIONS: Readonly<Record<UnitState, readonly UnitState[]>> = {
  [UNIT_STATE.PENDING]: [UNIT_STATE.CLAIMED],
  [UNIT_STATE.CLAIMED]: [UNIT_STATE.COPIED, UNIT_STATE.COPIED_OOO, UNIT_STATE.PENDING],
  // Only a clone's precopy reopens a copied unit (its source was written again: copy it again).
  [UNIT_STATE.COPIED]: [UNIT_STATE.PENDING],
  [UNIT_STATE.COPIED_OOO]: [UNIT_STATE.PENDING],
  [UNIT_STATE.EXCLUDED]: [],
};

export const CONTROL = { RUN: 0, PAUSE: 1, CANCEL: 2 } as const;
export type ControlValue = (typeof CONTROL)[keyof typeof CONTROL];

/** Named indices of the Int32 words (after the 16 bytes of BigInt64 counters). */
export const WORD = { control: 0, copiedInOrder: 1, copiedOutOfOrder: 2, released: 3, activeWorkers: 4 } as const;
const BIG_COUNTERS = { bytesInOrder: 0, bytesOutOfOrder: 1 } as const;
export const HEADER_BYTES = 64;
const BIG_COUNTER_BYTES = 16;
const WORD_COUNT = (HEADER_BYTES - BIG_COUNTER_BYTES) / 4;
assert(Object.keys(WORD).length <= WORD_COUNT, 'the control words fit the header');

/** How long one wait for a claimed unit may block before re-checking (a worker copies one batch in far less). */
export const CLAIM_WAIT_SLICE_MS = 50;

export interface StateCounters {
  readonly copiedInOrder: number;
  readonly copiedOutOfOrder: number;
  readonly bytesInOrder: number;
  readonly bytesOutOfOrder: number;
}

export class TrackStateArray {
  // Shared, Atomics only.
  readonly buffer: SharedArrayBuffer;
  private readonly states: Int32Array;
  private readonly words: Int32Array;
  private readonly big: BigInt64Array;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.big = new BigInt64Array(buffer, 0, 2);
    this.words = new Int32Array(buffer, BIG_COUNTER_BYTES, WORD_COUNT);
    this.states = new Int32Array(buffer, HEADER_BYTES);
  }

  /** A new array with every unit EXCLUDED; the session then includes its units (PENDING). */
  static create(unitCount: number): TrackStateArray {
    const buffer = new SharedArrayBuffer(HEADER_BYTES + unitCount * 4);
    const array = new TrackStateArray(buffer);
    array.states.fill(UNIT_STATE.EXCLUDED);
    return array;
  }

  static attach(buffer: SharedArrayBuffer): TrackStateArray {
    return new TrackStateArray(buffer);
  }

  get unitCount(): number {
    return this.states.length;
  }

  /** Set-up only, before any other thread sees the array. */
  include(unit: number): void {
    this.states[unit] = UNIT_STATE.PENDING;
  }

  /** Restores a unit state from a persisted bitmap (set-up only). */
  restore(unit: number, state: UnitState): void {
    this.states[unit] = state === UNIT_STATE.CLAIMED ? UNIT_STATE.PENDING : state;
  }

  state(unit: number): UnitState {
    return Atomics.load(this.states, unit) as UnitState;
  }

  /** PENDING → CLAIMED; true when this caller now owns the unit's copy. */
  tryClaim(unit: number): boolean {
    return Atomics.compareExchange(this.states, unit, UNIT_STATE.PENDING, UNIT_STATE.CLAIMED) === UNIT_STATE.PENDING;
  }

  /** CLAIMED → COPIED (a worker) or COPIED_OOO (the interceptor), with the bytes it wrote. */
  complete(unit: number, outOfOrder: boolean, bytes: number): void {
    this.completeAll([unit], outOfOrder, bytes);
  }

  /**
   * `complete` for each of `units` (all CLAIMED by the caller), with `bytes` for all of them: the
   * counters are added once, not once per unit (a batch of 1 MiB of FBA blocks is 2,048 units).
   * Each unit still leaves CLAIMED with its own store and notify, so a waiter wakes as before.
   */
  completeAll(units: readonly number[], outOfOrder: boolean, bytes: number): void {
    const next = outOfOrder ? UNIT_STATE.COPIED_OOO : UNIT_STATE.COPIED;
    for (const unit of units) {
      const previous = Atomics.exchange(this.states, unit, next);
      // The message is built only on failure: this runs once per unit copied.
      if (previous !== UNIT_STATE.CLAIMED) assert(false, `unit ${unit} was claimed before completing (was ${UNIT_STATE_NAMES[previous as UnitState]})`);
      Atomics.notify(this.states, unit);
    }
    Atomics.add(this.words, outOfOrder ? WORD.copiedOutOfOrder : WORD.copiedInOrder, units.length);
    Atomics.add(this.big, outOfOrder ? BIG_COUNTERS.bytesOutOfOrder : BIG_COUNTERS.bytesInOrder, BigInt(bytes));
  }

  /** CLAIMED → PENDING after a failed copy, so that the unit is not lost. */
  release(unit: number): void {
    const previous = Atomics.compareExchange(this.states, unit, UNIT_STATE.CLAIMED, UNIT_STATE.PENDING);
    assert(previous === UNIT_STATE.CLAIMED, `unit ${unit} was claimed before release`);
    Atomics.add(this.words, WORD.released, 1);
    Atomics.notify(this.states, unit);
  }

  /**
   * COPIED or COPIED_OOO → PENDING: the unit must be copied again (a clone precopy, after a host
   * write to a unit it had copied). False when the unit was not copied (PENDING, CLAIMED, EXCLUDED):
   * a CLAIMED unit is waited for first (`waitWhileClaimed`), by the caller.
   */
  reopen(unit: number): boolean {
    for (const from of [UNIT_STATE.COPIED, UNIT_STATE.COPIED_OOO]) {
      if (Atomics.compareExchange(this.states, unit, from, UNIT_STATE.PENDING) === from) return true;
    }
    return false;
  }

  /**
   * Blocks the calling thread while the unit is CLAIMED (a worker is copying it), then returns its
   * state. `deadlineMs` (a Date.now() value) bounds the wait; past it the state is returned as is.
   */
  waitWhileClaimed(unit: number, deadlineMs: number): UnitState {
    let state = this.state(unit);
    while (state === UNIT_STATE.CLAIMED) {
      const left = deadlineMs - Date.now();
      if (left <= 0) return state;
      Atomics.wait(this.states, unit, UNIT_STATE.CLAIMED, Math.min(left, CLAIM_WAIT_SLICE_MS));
      state = this.state(unit);
    }
    return state;
  }

  get control(): ControlValue {
    return Atomics.load(this.words, WORD.control) as ControlValue;
  }

  setControl(value: ControlValue): void {
    Atomics.store(this.words, WORD.control, value);
    Atomics.notify(this.words, WORD.control);
  }

  /** Blocks a worker while the session is paused; returns the control value that ended the wait. */
  waitWhilePaused(sliceMs: number): ControlValue {
    let value = this.control;
    while (value === CONTROL.PAUSE) {
      Atomics.wait(this.words, WORD.control, CONTROL.PAUSE, sliceMs);
      value = this.control;
    }
    return value;
  }

  counters(): StateCounters {
    return {
      copiedInOrder: Atomics.load(this.words, WORD.copiedInOrder),
      copiedOutOfOrder: Atomics.load(this.words, WORD.copiedOutOfOrder),
      bytesInOrder: Number(Atomics.load(this.big, BIG_COUNTERS.bytesInOrder)),
      bytesOutOfOrder: Number(Atomics.load(this.big, BIG_COUNTERS.bytesOutOfOrder)),
    };
  }

  /** Units in each state (a scan: for status and checks, not the hot path). */
  census(): Record<UnitState, number> {
    const counts: Record<UnitState, number> = { 0: 0, 1: 0, 2: 0, 3: 0, 4: 0 };
    for (let i = 0; i < this.states.length; i++) counts[Atomics.load(this.states, i) as UnitState]++;
    return counts;
  }

  /**
   * A copy of the states, for persisting the session. One bulk copy, not a call per unit (that held
   * the owning thread, and a host write behind it, for 24 ms on a 3390-3's 50,085 units). A bulk
   * copy of shared memory is not promised to read each Int32 whole: the language copies it byte by
   * byte (V8 copies words only where both ends are 8-byte aligned; a view at 4 mod 8 reads torn).
   * Safe here all the same: every state (UNIT_STATE, 0-4) has its upper three bytes zero, so a unit
   * read while a worker stores it is its old state or its new one, never a third; and like
   * the Atomics.load per unit before it, the copy was never one instant across units.
   */
  snapshotStates(): Int32Array {
    return new Int32Array(this.states);
  }
}
