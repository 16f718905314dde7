/**
 * What a resumed clone session starts from: the record `<target>.clone.json` (phase, OP, time
 * stamps) and the durable bitmap `<target>.clone.bitmap` (version 2, clone-bitmap-file.ts), turned
 * into the in-memory state of a CloneSession. clone-resume.ts decides whether a resume is allowed;
 * this module only decodes.
 *
 * The rule a resume relies on (clone-bitmap-file.ts): for a unit that takes part (PART), a clear
 * CLONE PB bit in the file means the destination holds the unit's point-in-time data. So a unit is
 * PENDING, with CLONE PB and IND set, when either of those bits is set in the file (a death
 * between the two pwrites of `markToCopy` leaves one of them), and COPIED otherwise. PRECOPY PB is
 * kept only where CLONE PB is clear (the two are never both set).
 */
import type { BitColumns } from '../../engine/bit-columns.js';
import { UNIT_STATE, type TrackStateArray } from '../../engine/track-state.js';
import { unitsFromRuns, type CloneExtent } from './clone-extents.js';
import type { CloneMachine } from './clone-phase.js';
import { FILE_COLUMN, type CloneRecord, type DecodedCloneBitmap } from './clone-record.js';
import type { CloneBitmapFile } from './clone-bitmap-file.js';
import { IND_COLUMN } from './protection-bits.js';

export interface RestoredClone {
  readonly id: string;
  readonly machine: CloneMachine;
  readonly createdAt: string;
  readonly opAt: string;
  readonly activatedAt: string | null;
  readonly hadPrecopy: boolean;
  readonly recopies: number;
  readonly extent: CloneExtent;
  /** 1: CLONE PB or IND set in the file (still to copy). */
  readonly toCopy: Uint8Array;
  /** 1: PRECOPY PB set in the file (and CLONE PB clear). */
  readonly precopied: Uint8Array;
  /** The bitmap, open for updates in place; the session owns it from now on. */
  readonly file: CloneBitmapFile;
}

/** The PART column of an extent: bit u set when unit u takes part. */
export function partColumn(included: Uint8Array): Int32Array {
  const words = new Int32Array(Math.ceil(included.length / 32));
  for (let u = 0; u < included.length; u++) if (included[u] === 1) words[u >>> 5] = (words[u >>> 5] as number) | (1 << (u & 31));
  return words;
}

/** Decodes the record and the bitmap (already checked by clone-resume.ts) into a RestoredClone. */
export function restoreClone(record: CloneRecord, bitmap: DecodedCloneBitmap, file: CloneBitmapFile): RestoredClone {
  const n = bitmap.unitCount;
  const included = new Uint8Array(n);
  const toCopy = new Uint8Array(n);
  const precopied = new Uint8Array(n);
  let includedCount = 0;
  for (let u = 0; u < n; u++) {
    if (!bitmap.test(FILE_COLUMN.part, u)) continue;
    included[u] = 1;
    includedCount++;
    const pending = bitmap.test(FILE_COLUMN.clonePb, u) || bitmap.test(FILE_COLUMN.ind, u);
    toCopy[u] = pending ? 1 : 0;
    precopied[u] = !pending && bitmap.test(FILE_COLUMN.precopyPb, u) ? 1 : 0;
  }
  return {
    id: record.id,
    machine: { phase: record.phase, op: record.op, opStatus: record.opStatus },
    createdAt: record.createdAt,
    opAt: record.opAt,
    activatedAt: record.activatedAt,
    hadPrecopy: record.flags.precopy,
    recopies: record.recopies,
    extent: { included, includedCount, datasets: record.datasets, targetUnits: unitsFromRuns(n, record.relocated ?? []) },
    toCopy,
    precopied,
    file,
  };
}

/** Set-up of one unit of a resumed session (before any other thread sees the arrays). */
export function restoreUnit(
  restored: RestoredClone,
  unit: number,
  into: { states: TrackStateArray; pb: BitColumns; clone: number; precopy: number; ind: BitColumns },
): void {
  if (restored.toCopy[unit] === 1) {
    into.states.include(unit);
    into.pb.set(into.clone, unit);
    into.ind.set(IND_COLUMN, unit);
    return;
  }
  into.states.restore(unit, UNIT_STATE.COPIED);
  if (restored.precopied[unit] === 1) into.pb.set(into.precopy, unit);
}
