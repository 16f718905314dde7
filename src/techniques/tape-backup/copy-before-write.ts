/**
 * The copy-before-write of a tape backup: what happens to a slot between a host write's arrival
 * and its going ahead (ARCHITECTURE.md, the copy-before-write protocol). The session's interceptor
 * calls `protect` for each slot a write touches, then `markDurable`:
 * - a PENDING slot is claimed and its start-instant bytes are copied to its mapped tape position
 *   (or, with a spool, put into the spool, which a drain empties onto the tape);
 * - a slot a worker holds is waited for, bounded by `cbwTimeoutMs` — or, with a spool, spooled too
 *   (the source still has its start-instant bytes: this is the first host write to reach it), so
 *   that a host write never waits for a slow target;
 * - a failure goes to the session's policy (`onFailure`), which may refuse the host write.
 * Also the main thread's own copies of a slot (`copySlot`), for backends workers cannot read.
 */
import { closeSync, openSync } from 'node:fs';
import { assert } from '../../base/assert.js';
import { translateIoError } from '../../errors/io-error.js';
import { readFully } from '../../base/file-io.js';
import { IoError, SessionError, SnaptapeError } from '../../errors/snaptape-error.js';
import { waitForTargetSync, type TargetRate } from '../../engine/target-rate.js';
import { UNIT_STATE, type TrackStateArray } from '../../engine/track-state.js';
import type { MappedTapeWriter } from '../../tape/mapped-tape-writer.js';
import type { Volume } from '../../volume/volume.js';
import type { BackupSet } from './backup-elements.js';
import type { BackupSpool } from './backup-spool.js';
import { DEFAULT_CBW_TIMEOUT_MS } from './backup-types.js';
import { PERSISTED_SPOOLED, type DurableSlotBitmap } from './durable-bitmap.js';
import { SpoolDrain } from './spool-drain.js';

export interface CopyBeforeWriteParts {
  readonly volume: Volume;
  readonly set: BackupSet;
  readonly states: TrackStateArray;
  readonly writer: MappedTapeWriter;
  readonly bitmap: DurableSlotBitmap;
  readonly spool?: BackupSpool | undefined;
  readonly targetRate?: TargetRate | undefined;
  readonly cbwTimeoutMs?: number | undefined;
  /** A copy before a host write failed: the session's policy decides (it may throw to refuse the write). */
  readonly onFailure: (error: SnaptapeError) => void;
  /** The drain failed: the session fails. */
  readonly onDrainError: (error: SnaptapeError) => void;
}

export class CopyBeforeWrite {
  private readonly parts: CopyBeforeWriteParts;
  /** Moves spooled slots to the tape; present with a spool. */
  readonly drain: SpoolDrain | undefined;
  // Main thread only.
  /** A read-only descriptor of a one-file source, and one reused buffer: a host write allocates nothing. */
  private sourceFd: number | undefined;
  private readonly scratch: Buffer;

  constructor(parts: CopyBeforeWriteParts) {
    this.parts = parts;
    this.scratch = Buffer.allocUnsafe(parts.set.slots.lengths.reduce((m, l) => Math.max(m, l), 0));
    const spool = parts.spool;
    this.drain = spool && new SpoolDrain({
      spool,
      states: parts.states,
      bitmap: parts.bitmap,
      writeSlot: (slot, payload) => this.writeSlot(slot, payload),
      targetRate: parts.targetRate,
      onError: (error) => parts.onDrainError(error instanceof SnaptapeError ? error : new IoError(`Cannot drain the spool ${spool.path}: ${String(error)}`, { path: spool.path })),
    });
  }

  /** Makes the slot's start-instant bytes safe before a host write changes them. */
  protect(slot: number): void {
    const { states } = this.parts;
    if (states.tryClaim(slot)) {
      this.copyClaimed(slot);
      return;
    }
    if (this.parts.spool) return this.protectBySpool(slot);
    const timeoutMs = this.parts.cbwTimeoutMs ?? DEFAULT_CBW_TIMEOUT_MS;
    if (states.waitWhileClaimed(slot, Date.now() + timeoutMs) === UNIT_STATE.CLAIMED) {
      const unit = this.parts.set.slots.firstUnit[slot] ?? -1;
      this.parts.onFailure(new SessionError(`Cannot hold a host write on ${this.parts.volume.path} longer than ${timeoutMs} ms: unit ${unit} is still being copied`, { path: this.parts.volume.path, unit }));
    }
  }

  /** dm-era's rule: the bitmap on disk says the slot is safe before the host write is acknowledged. */
  markDurable(slot: number): void {
    const { bitmap, spool, states } = this.parts;
    bitmap.markSafe(slot, spool?.holds(slot) ? PERSISTED_SPOOLED : states.state(slot));
  }

  /** A slot this thread just claimed: to the spool if there is one, else straight to the tape. */
  private copyClaimed(slot: number): void {
    try {
      if (this.parts.spool) this.spoolSlot(slot, true);
      else this.copySlot(slot, true);
    } catch (error) {
      this.parts.states.release(slot);
      this.parts.onFailure(error instanceof SnaptapeError ? error : new IoError(`Cannot copy slot ${slot} before a host write: ${String(error)}`, { slot }));
    }
  }

  private protectBySpool(slot: number): void {
    const { spool, states } = this.parts;
    // Bounded: the retry happens only when a worker released the slot between our two looks.
    for (;;) {
      if (spool?.holds(slot)) return;
      const state = states.state(slot);
      if (state === UNIT_STATE.CLAIMED) {
        try {
          this.spoolSlot(slot, false);
        } catch (error) {
          this.parts.onFailure(error instanceof SnaptapeError ? error : new IoError(`Cannot spool slot ${slot} before a host write: ${String(error)}`, { slot }));
        }
        return;
      }
      if (state !== UNIT_STATE.PENDING) return;
      if (states.tryClaim(slot)) return this.copyClaimed(slot);
    }
  }

  /**
   * The slot's start-instant bytes, read from the source. A one-file source with no read hooks is
   * read as the workers read it, with a pread into a reused buffer (the caller copies the bytes
   * out before the next read: to the tape or the spool); any other backend through `readUnit`.
   */
  private readSlot(slot: number): Uint8Array {
    const { volume, set } = this.parts;
    const { firstUnit, unitSpan, lengths } = set.slots;
    const unit = firstUnit[slot] as number;
    const location = volume.backend.location();
    if (location.kind === 'file') {
      const payload = this.scratch.subarray(0, lengths[slot] as number);
      readFully(this.openSource(location.path), payload, location.dataOffsetBytes + unit * location.slotBytes, location.path);
      return payload;
    }
    const payload = volume.geometry.kind === 'ckd'
      ? volume.backend.readUnit(unit, lengths[slot] as number)
      : volume.backend.readUnits(unit, unitSpan[slot] as number);
    assert(payload.length === lengths[slot], 'the old bytes have the planned length');
    return payload;
  }

  private openSource(path: string): number {
    if (this.sourceFd === undefined) {
      try {
        this.sourceFd = openSync(path, 'r');
      } catch (error) {
        throw translateIoError(error, 'open the source for copy-before-write', path);
      }
    }
    return this.sourceFd;
  }

  /** Closes the source descriptor (the session ended). */
  close(): void {
    if (this.sourceFd !== undefined) closeSync(this.sourceFd);
    this.sourceFd = undefined;
  }

  /** Writes a slot's payload to its mapped tape position. */
  private writeSlot(slot: number, payload: Uint8Array): void {
    const { set, writer } = this.parts;
    const fileIndex = set.slots.element[slot] as number;
    const blockIndex = slot - (set.elements[fileIndex]?.firstSlot ?? 0);
    writer.writeDataBlock({ fileIndex, blockIndex }, payload);
  }

  /**
   * Copies a claimed slot to its mapped tape position on this thread, waiting for a slowed target:
   * out of order before a host write, in order for a backend workers cannot read (main-thread-copy.ts).
   */
  copySlot(slot: number, outOfOrder: boolean): number {
    const payload = this.readSlot(slot);
    this.writeSlot(slot, payload);
    waitForTargetSync(this.parts.targetRate, payload.length);
    this.parts.states.complete(slot, outOfOrder, payload.length);
    return payload.length;
  }

  /** Puts the slot's start-instant bytes into the spool; the drain takes them to the tape. */
  private spoolSlot(slot: number, ownClaim: boolean): void {
    (this.parts.spool as BackupSpool).put(slot, this.readSlot(slot));
    this.parts.bitmap.mark(slot, PERSISTED_SPOOLED);
    this.drain?.add(slot, ownClaim);
  }
}
