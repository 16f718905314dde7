/**
 * The track-map model of a copy session: per volume unit (a track on CKD, a block on FBA) one code
 * saying where the session stands on it. A map is *sampled*: `sampleTrackMap` reads the shared
 * track-state array with Atomics loads, off the copy loop, so nothing runs per track on the hot
 * path. Host writes come from a HostWriteRecorder (host-write-recorder.ts), a separate bitmap.
 *
 * Encoding (one ASCII character per unit, the wire and file form, `codes`):
 *   'x' not in the session, 'p' pending (or being copied), 'i' copied in order,
 *   'o' copied out of order (copy-before-write), 'r' re-copied (a clone's precopy);
 *   the upper-case letter is the same state on a unit the host wrote since the session started.
 * Each session kind (`kind`: backup, clone, mirror) gives the codes its own meaning and labels
 * (`TRACK_LABELS`); the colours are the same for all. clone-track-map.ts and mirror-track-map.ts
 * say how a clone and a mirror fill the codes; all three build the snapshot with `buildTrackMap`.
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
export const TRACK_MAP_KINDS = ['backup', 'clone', 'mirror'] as const;
/** The kind of session a map is of: it decides what the codes mean (TRACK_LABELS). */
export type TrackMapKind = (typeof TRACK_MAP_KINDS)[number];

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
/**
 * What each code means for each kind of session; a code a kind never produces has no label and is
 * left out of that kind's legend (`legendFor`).
 */
export const TRACK_LABELS: Readonly<Record<TrackMapKind, Partial<Record<TrackCodeName, string>>>> = {
  backup: {
    pending: 'pending', copiedInOrder: 'copied in order', copiedOutOfOrder: 'copied out of order (host write first)', notInSession: 'not in the session',
  },
  clone: {
    pending: 'pending (not yet on the destination)', copiedInOrder: 'copied by the background copy (in order)',
    copiedOutOfOrder: 'copied on demand (before a host I/O, after ACTIVATE)', recopied: 're-copied (written after its precopy copy)',
    notInSession: 'not in the clone',
  },
  mirror: {
    pending: 'out of sync (to be resent)', copiedInOrder: 'resent by the resync (in order)',
    copiedOutOfOrder: 'resent by a host write during the resync', notInSession: 'in sync, not part of the resync',
  },
};

/** The legend of a kind of session: TRACK_LEGEND's colours with that kind's labels, in drawing order. */
export function legendFor(kind: TrackMapKind): TrackLegendEntry[] {
  const labels = TRACK_LABELS[kind];
  return TRACK_LEGEND.flatMap((e) => {
    const label = labels[e.name];
    return label === undefined ? [] : [{ ...e, label }];
  });
}

/** The overlay mark of a unit the host wrote since the session started (Okabe–Ito yellow on black edge). */
export const HOST_WRITE_COLOUR = '#F0E442';
export const HOST_WRITE_LABEL = 'written by the host since the start';

/** Rows per column of an FBA map (FBA has no heads: blocks are drawn in columns of this height). */
export const FBA_MAP_ROWS = 32;

export interface TrackMapSnapshot {
  /** The session kind the codes are of (a map file written before kinds existed is a backup's). */
  readonly kind: TrackMapKind;
  /** What the map is of, within the session: the mirror (M2..M4) of a mirror session. */
  readonly subject?: string;
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

/** What `buildTrackMap` needs: the shape, the host writes, and the code of each unit now. */
export interface TrackMapParts {
  readonly kind: TrackMapKind;
  readonly subject?: string;
  readonly geometry: VolumeGeometry;
  readonly hostWritten: Uint8Array;
  readonly hostWrites: number;
  readonly codeOf: (unit: number) => TrackCode;
}

/** One pass over the units: codes, counts and the host-write overlay, on the sampling thread. */
export function buildTrackMap(parts: TrackMapParts): TrackMapSnapshot {
  const shape = mapShape(parts.geometry);
  assert(parts.hostWritten.length === shape.unitCount, 'the host-write bitmap covers the volume');
  const chars = new Array<string>(shape.unitCount);
  const counts = emptyCounts();
  let hostWrittenUnits = 0;
  for (let u = 0; u < shape.unitCount; u++) {
    const code = parts.codeOf(u);
    counts[NAME_OF[code]]++;
    const written = parts.hostWritten[u] === 1;
    if (written) hostWrittenUnits++;
    chars[u] = written ? code.toUpperCase() : code;
  }
  return {
    kind: parts.kind, ...(parts.subject !== undefined ? { subject: parts.subject } : {}), ...shape,
    codes: chars.join(''), counts, hostWrittenUnits, hostWrites: parts.hostWrites, sampledAtMs: Date.now(),
  };
}

/** A backup's map now: one Atomics load per slot-bearing unit, on the sampling thread. */
export function sampleTrackMap(source: TrackMapSource): TrackMapSnapshot {
  assert(source.unitToSlot.length === mapShape(source.geometry).unitCount, 'the slot table covers the volume');
  return buildTrackMap({
    kind: 'backup', geometry: source.geometry, hostWritten: source.hostWritten, hostWrites: source.hostWrites,
    codeOf: (u) => {
      const slot = source.unitToSlot[u] as number;
      return slot < 0 ? 'x' : (STATE_CODE[source.states.state(slot)] ?? 'x');
    },
  });
}

/** Counts of a code string (a check, and for maps read from a file). */
export function countCodes(codes: string): Record<TrackCodeName, number> {
  const counts = emptyCounts();
  for (const c of codes) counts[codeName(c)]++;
  return counts;
}
