/**
 * The copy-before-write of a tape backup: a policy, in the manner of QEMU's copy-before-write
 * filter. It decides what must happen to a slot between a host write's arrival and its going
 * ahead, and the engine's unit copy (engine/unit-copy.ts) does every copy; a failure goes to the
 * session's policy (`onFailure`, which latches it and may refuse the host write). The session's
 * interceptor calls `protect` for each slot a write touches, then `markDurable`:
 * - a PENDING slot is claimed and its start-instant bytes are copied to its mapped tape position
 *   (or, with a spool, into the spool, which a drain empties onto the tape);
 * - a slot a worker holds is waited for, bounded by `cbwTimeoutMs` — or, with a spool, spooled too
 *   (the source still has its start-instant bytes: this is the first host write to reach it), so
 *   that a host write never waits for a slow target.
 */
import { IoError, SessionError, SnaptapeError } from '../../errors/snaptape-error.js';
import { owningThreadCopier } from '../../engine/background-copy.js';
import type { CopyPlan } from '../../engine/copy-plan.js';
import type { TargetRate } from '../../engine/target-rate.js';
import { UNIT_STATE, type TrackStateArray } from '../../engine/track-state.js';
import { copyUnits, type UnitCopier } from '../../engine/unit-copy.js';
import { FileUnitSource, FunctionUnitSink, FunctionUnitSource, type UnitSource } from '../../engine/unit-ports.js';
import type { MappedTapeWriter } from '../../tape/mapped-tape-writer.js';
import type { Volume } from '../../volume/volume.js';
import type { BackupSet } from './backup-elements.js';
import { backendSlotSource, writerTapeSink } from './backup-copy-plan.js';
import type { BackupSpool } from './backup-spool.js';
import { DEFAULT_CBW_TIMEOUT_MS } from './backup-types.js';
import { PERSISTED_SPOOLED, type DurableSlotBitmap } from './durable-bitmap.js';
import { SpoolDrain } from './spool-drain.js';

export interface CopyBeforeWriteParts {
  readonly volume: Volume;
  readonly set: BackupSet;
  readonly plan: CopyPlan;
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
  private readonly source: UnitSource;
  /** Source → tape: the copy before a host write, and the owning thread's background copy. */
  readonly toTape: UnitCopier;
  /** Source → spool: the copy before a host write when there is a spool. */
  private readonly toSpool: UnitCopier | undefined;

  constructor(parts: CopyBeforeWriteParts) {
    this.parts = parts;
    const location = parts.volume.backend.location();
    // A one-file source is read as the workers read it, by offset on a descriptor of its own.
    this.source = location.kind === 'file' ? new FileUnitSource(location, parts.plan.source) : backendSlotSource(parts.volume, parts.set);
    this.toTape = owningThreadCopier(parts.plan, { source: this.source, sink: writerTapeSink(parts.writer, parts.set) }, parts.states);
    const spool = parts.spool;
    const { states, source, target, marks } = this.toTape;
    this.toSpool = spool && {
      states,
      source,
      target,
      marks,
      sink: new FunctionUnitSink((writes) => {
        for (const w of writes) spool.put(w.unit, w.data);
      }),
    };
    this.drain =
      spool &&
      new SpoolDrain({
        spool,
        states: parts.states,
        bitmap: parts.bitmap,
        // The tape's copier but for its source (and its target rate, which the drain waits for itself).
        fromSpool: {
          states,
          target,
          marks,
          sink: this.toTape.sink,
          source: new FunctionUnitSource((slot) => spool.read(slot)),
        },
        targetRate: parts.targetRate,
        onError: (error) =>
          parts.onDrainError(
            error instanceof SnaptapeError ? error : new IoError(`Cannot drain the spool ${spool.path}: ${String(error)}`, { path: spool.path }),
          ),
      });
  }

  /** Makes the slot's start-instant bytes safe before a host write changes them. */
  protect(slot: number): void {
    if (this.parts.spool) return this.protectBySpool(slot);
    const { states } = this.parts;
    if (this.tryCopy(slot)) return;
    const timeoutMs = this.parts.cbwTimeoutMs ?? DEFAULT_CBW_TIMEOUT_MS;
    if (states.waitWhileClaimed(slot, Date.now() + timeoutMs) === UNIT_STATE.CLAIMED) {
      const unit = this.parts.set.slots.firstUnit[slot] ?? -1;
      this.parts.onFailure(
        new SessionError(`Cannot hold a host write on ${this.parts.volume.path} longer than ${timeoutMs} ms: unit ${unit} is still being copied`, {
          path: this.parts.volume.path,
          unit,
        }),
      );
    }
  }

  /** dm-era's rule: the bitmap on disk says the slot is safe before the host write is acknowledged. */
  markDurable(slot: number): void {
    const { bitmap, spool, states } = this.parts;
    bitmap.markSafe(slot, spool?.holds(slot) ? PERSISTED_SPOOLED : states.state(slot));
  }

  /** Copies a PENDING slot to the tape out of order; false when it was not PENDING. */
  private tryCopy(slot: number): boolean {
    try {
      return copyUnits(this.toTape, [slot], { claim: true, complete: true, outOfOrder: true }).copied === 1;
    } catch (error) {
      this.parts.onFailure(error instanceof SnaptapeError ? error : new IoError(`Cannot copy slot ${slot} before a host write: ${String(error)}`, { slot }));
      return true;
    }
  }

  private protectBySpool(slot: number): void {
    const { spool, states } = this.parts;
    // Bounded: the retry happens only when a worker released the slot between our two looks.
    for (;;) {
      if (spool?.holds(slot)) return;
      const state = states.state(slot);
      if (state === UNIT_STATE.CLAIMED) return this.spoolSlot(slot, false);
      if (state !== UNIT_STATE.PENDING) return;
      if (states.tryClaim(slot)) return this.spoolSlot(slot, true);
    }
  }

  /**
   * Puts the slot's start-instant bytes into the spool; the drain takes them to the tape and
   * completes the slot. `ownClaim`: this thread claimed it; else a worker holds it (the drain waits).
   */
  private spoolSlot(slot: number, ownClaim: boolean): void {
    try {
      copyUnits(this.toSpool as UnitCopier, [slot], { claim: false, complete: false, outOfOrder: true });
      this.parts.bitmap.mark(slot, PERSISTED_SPOOLED);
      this.drain?.add(slot, ownClaim);
    } catch (error) {
      if (ownClaim) this.parts.states.release(slot);
      this.parts.onFailure(error instanceof SnaptapeError ? error : new IoError(`Cannot spool slot ${slot} before a host write: ${String(error)}`, { slot }));
    }
  }

  /** Closes the source descriptor (the session ended). */
  close(): void {
    this.source.close?.();
  }
}
