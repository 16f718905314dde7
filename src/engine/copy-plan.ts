/**
 * What the engine is told to copy: plain data (typed arrays and SharedArrayBuffers), so that a plan
 * posts to a worker thread as a cheap clone. The engine never interprets a target: a technique
 * says where each unit's bytes go, and what bytes (a prefix) go just before them.
 *
 * A copy unit is one slot of the session's track-state array (track-state.ts): a CKD track, a group
 * of FBA blocks, or a tape block. Its source bytes are `lengths[u]` bytes (or the whole slot) at
 * `firstSourceUnit[u]` of the source (or unit `u` itself).
 */
import type { FileIdentity } from '../base/file-io.js';
import type { ErrorData } from '../errors/snaptape-error.js';
import type { FileUnitLocation } from '../image/image-backend.js';
import type { PacingPlan } from './copy-pacing.js';
import type { TargetRate } from './target-rate.js';

/** Where a unit's bytes come from, in the source's own units. */
export interface SourceMap {
  /** Source unit where each copy unit starts; absent: copy unit u is source unit u. */
  readonly firstSourceUnit?: Int32Array;
  /** Bytes of each copy unit; absent: the whole slot (`slotBytes`). */
  readonly lengths?: Int32Array;
}

/**
 * A placed target: each unit goes to a byte offset of one file, after a prefix the technique built
 * in advance (a tape's 6-byte AWSTAPE block header, whose lengths the plan fixed at the start).
 * Consecutive units whose bytes abut are written in one call.
 */
export interface PlacedTarget {
  readonly kind: 'placed';
  /** Byte offset of each unit's prefix (its bytes follow the prefix). */
  readonly offsets: Float64Array;
  /** `prefixBytes` bytes per unit, unit u's at u × prefixBytes. */
  readonly prefixes: Uint8Array;
  readonly prefixBytes: number;
}

/**
 * Units of a CKD source that go to other tracks of the target (an extent clone's relocated data
 * sets): unit u goes to track `targetUnits[u]`, its home address and record ids rewritten for that
 * track on the way (ckd/track-relocate.ts); a unit with `targetUnits[u] === u` goes as it is.
 */
export interface UnitRelocation {
  readonly targetUnits: Int32Array;
  /** Heads per cylinder of the target, to make a track's CCHH from its index. */
  readonly heads: number;
  /** The source, named in an error about one of its tracks. */
  readonly sourcePath: string;
}

/**
 * A slot target: unit u goes to the same unit of another volume or backend (or, with `relocation`,
 * to the unit it names). With `trim`, a unit is written only up to its last non-zero byte, then
 * zeros up to what the target slot may still hold (its extent), so that a sparse source stays cheap
 * and the target slot still equals the source.
 */
export interface SlotTarget {
  readonly kind: 'slot';
  readonly trim: boolean;
  /** Absent: every unit goes to the same unit, as it is. */
  readonly relocation?: UnitRelocation;
  /**
   * Int32 per unit: bytes of the target slot that may be non-zero, kept by every copy. Absent: the
   * whole slot may hold old bytes (a target the engine does not track), so every copy writes it whole.
   */
  readonly extentBuffer?: SharedArrayBuffer;
}

export type CopyTarget = PlacedTarget | SlotTarget;

/** Bits to change when a unit is copied: in `buffer` (bit-columns.ts), clear these columns and set those. */
export interface UnitCopyMarks {
  readonly buffer: SharedArrayBuffer;
  readonly clearColumns: readonly number[];
  readonly setColumns: readonly number[];
}

/** One background copy: the units to copy, in order, shared by every thread that runs it. */
export interface CopyPlan {
  /** Claims: the session's track-state array (track-state.ts). */
  readonly stateBuffer: SharedArrayBuffer;
  /** Copy units in copy order. */
  readonly units: Int32Array;
  /**
   * Int32 word 0: the next batch to take. Every thread running this plan takes its batches from it
   * (Atomics.add), so a worker never waits for a task round trip and none sits idle at the tail.
   */
  readonly cursorBuffer: SharedArrayBuffer;
  readonly source: SourceMap;
  readonly target: CopyTarget;
  readonly marks: readonly UnitCopyMarks[];
  /**
   * Read a batch before claiming it. Sound only when no host write ever sends a copied unit back to
   * PENDING (a tape backup): a claim that succeeds after the read then proves no host write reached
   * the unit first. A clone's precopy reopens units, so it claims first.
   */
  readonly readBeforeClaim: boolean;
  readonly pacing: PacingPlan;
  /**
   * Units per batch (copy-loop.ts `copyBatchUnits`); absent: a cylinder (COPY_BATCH_UNITS). A batch
   * is what one thread copies between two looks at the control word and the pacing.
   */
  readonly batchUnits?: number;
  /** A target slowed for experiments (`--target-mbps`): each write waits for its transfer. */
  readonly targetRate?: TargetRate;
}

/** A placed target's file, as a worker opens it by its name. */
export interface PlacedTargetFile {
  readonly kind: 'file';
  readonly path: string;
  readonly identity?: FileIdentity;
}

/** Where a worker finds the bytes: both ends as files at fixed offsets. */
export interface FileCopyPlan extends CopyPlan {
  readonly sourceFile: FileUnitLocation;
  /**
   * The target file: for a slot target its units' location; for a placed target its path, and the
   * file the path must still name (`identity`: a tape its session made and holds), else the worker
   * refuses it, unwritten (file-io.ts requireSameFile).
   */
  readonly targetFile: FileUnitLocation | PlacedTargetFile;
}

export interface CopyResult {
  readonly copied: number;
  readonly skipped: number;
  readonly bytes: number;
  readonly error?: ErrorData;
}

/** A new cursor for a plan: batch 0 next. */
export function newCursor(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}
