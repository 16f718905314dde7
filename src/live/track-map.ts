/**
 * The track-map model of a copy session: per volume unit (a track on CKD, a block on FBA) one code
 * saying where the session stands on it. A map is *sampled*: `sampleTrackMap` reads the shared
 * track-state array with Atomics loads, off the copy loop, so nothing runs per track on the hot
 * path. Host writes come from a HostWriteRecorder (host-write-recorder.ts), a separate bitmap.
 *
 * Encoding (one ASCII character per unit, the wire and file form, `codes`):
 *   'x' not in the session, 'p' pending (or being copied), 'i' copied in order,
 *   'o' copied out of order (copy-before-write), 'r' re-copied (a clone's precopy; reserved);
 *   the upper-case letter is the same state on a unit the host wrote since the session started.
 * The host-write flag is an overlay, not a state: the counts of 'i'/'o' cells (any case) are the
 * session's copied-in-order / copied-out-of-order counts, one unit per slot on CKD.
 *
 * Colours: the Okabe–Ito palette (distinct under the common colour-vision deficiencies).
 */
import { assert } from '../base/assert.js';
import { UNIT_STATE, type TrackStateArray } from '../engine/track-state.js';
import type { VolumeGeometry } from '../geometry/volume-geometry.js';

export const TRACK_CODES = ['x', 'p', 'i', 'o', 'r'] as const;
export type TrackCode = (typeof TRACK_CODES)[number];
export type TrackCodeName = 'notInSession' | 'pending' | 'copiedInOrder' | 'copiedOutOfOrder' | 'recopied';

export interface TrackLegendEntry {
  readonly code: TrackCode;
  readonly name: TrackCodeName;
  readonly label: string;
  readonly colour: string;
}

/** The legend, in drawing order. Okabe–Ito: blue, vermillion, reddish purple; grey and white for the rest. */
export const TRACK_LEGEND: readonly TrackLegendEntry[] = [
  { code: 'p', name: 'pending', label: 'pending', colour: '#BBBBBB' },
  { code: 'i', name: 'copiedInOrder', label: 'copied in order', colour: '#0072B2' },
  { code: 'o', name: 'copiedOutOfOrder', label: 'copied out of order (host write first)', colour: '#D55E00' },
  { code: 'r', name: 'recopied', label: 're-copied (clone)', colour: '#CC79A7' },
  { code: 'x', name: 'notInSession', label: 'not in the session', colour: '#FFFFFF' },
];
/** The overlay mark of a unit the host wrote since the session started (Okabe–Ito yellow on black edge). */
export const HOST_WRITE_COLOUR = '#F0E442';
export const HOST_WRITE_LABEL = 'written by the host since the start';

/** Rows per column of an FBA map (FBA has no heads: blocks are drawn in columns of this height). */
export const FBA_MAP_ROWS = 32;

export interface TrackMapSnapshot {
  readonly unitKind: 'track' | 'block';
  readonly unitCount: number;
  /** Columns of the drawing: cylinders on CKD. */
  readonly columns: number;
  /** Rows of the drawing: heads on CKD. */
  readonly rows: number;
  /** One TRACK_CODES character per unit, upper case where the host wrote it. */
  readonly codes: string;
  readonly counts: Readonly<Record<TrackCodeName, number>>;
  /** Units the host wrote since the start (the upper-case codes). */
  readonly hostWrittenUnits: number;
  /** Host write requests seen since the start (for a rate). */
  readonly hostWrites: number;
  readonly sampledAtMs: number;
}

export interface TrackMapSource {
  readonly geometry: VolumeGeometry;
  readonly states: TrackStateArray;
  /** Slot of each volume unit, -1 when the unit is not in the session. */
  readonly unitToSlot: Int32Array;
  readonly hostWritten: Uint8Array;
  readonly hostWrites: number;
}

const STATE_CODE: Readonly<Record<number, TrackCode>> = {
  [UNIT_STATE.PENDING]: 'p',
  [UNIT_STATE.CLAIMED]: 'p',
  [UNIT_STATE.COPIED]: 'i',
  [UNIT_STATE.COPIED_OOO]: 'o',
  [UNIT_STATE.EXCLUDED]: 'x',
};

export function mapShape(geometry: VolumeGeometry): { unitKind: 'track' | 'block'; columns: number; rows: number; unitCount: number } {
  if (geometry.kind === 'ckd') return { unitKind: 'track', columns: geometry.cylinders, rows: geometry.heads, unitCount: geometry.trackCount };
  return { unitKind: 'block', columns: Math.ceil(geometry.blockCount / FBA_MAP_ROWS), rows: FBA_MAP_ROWS, unitCount: geometry.blockCount };
}

export function emptyCounts(): Record<TrackCodeName, number> {
  return { notInSession: 0, pending: 0, copiedInOrder: 0, copiedOutOfOrder: 0, recopied: 0 };
}

const NAME_OF: Readonly<Record<TrackCode, TrackCodeName>> = { x: 'notInSession', p: 'pending', i: 'copiedInOrder', o: 'copiedOutOfOrder', r: 'recopied' };

export function codeName(code: string): TrackCodeName {
  const name = NAME_OF[code.toLowerCase() as TrackCode];
  assert(name !== undefined, `track code ${code} is known`);
  return name;
}

/** Reads the map now: one Atomics load per slot-bearing unit, on the sampling thread. */
export function sampleTrackMap(source: TrackMapSource): TrackMapSnapshot {
  const shape = mapShape(source.geometry);
  assert(source.unitToSlot.length === shape.unitCount, 'the slot table covers the volume');
  assert(source.hostWritten.length === shape.unitCount, 'the host-write bitmap covers the volume');
  const chars = new Array<string>(shape.unitCount);
  const counts = emptyCounts();
  let hostWrittenUnits = 0;
  for (let u = 0; u < shape.unitCount; u++) {
    const slot = source.unitToSlot[u] as number;
    const code: TrackCode = slot < 0 ? 'x' : (STATE_CODE[source.states.state(slot)] ?? 'x');
    counts[NAME_OF[code]]++;
    const written = source.hostWritten[u] === 1;
    if (written) hostWrittenUnits++;
    chars[u] = written ? code.toUpperCase() : code;
  }
  return { ...shape, codes: chars.join(''), counts, hostWrittenUnits, hostWrites: source.hostWrites, sampledAtMs: Date.now() };
}

/** Counts of a code string (a check, and for maps read from a file). */
export function countCodes(codes: string): Record<TrackCodeName, number> {
  const counts = emptyCounts();
  for (const c of codes) counts[codeName(c)]++;
  return counts;
}
