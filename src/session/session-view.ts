/**
 * What a session's `view()` returns: its track map as plain data, so that a drawer (src/live, the
 * CLI's `map`, a client of the control API) needs no knowledge of the technique. Per volume unit
 * (a track on CKD, a block on FBA) one code says where the session stands on it, and the map
 * carries its own `legend`, naming each code the technique produces in the technique's words.
 *
 * Encoding (one ASCII character per unit, the wire and file form, `codes`):
 *   'x' not in the session, 'p' pending (or being copied), 'i' copied in order,
 *   'o' copied out of order (before a host I/O), 'r' re-copied (a clone's precopy);
 *   the upper-case letter is the same state on a unit the host wrote since the session started.
 * Each technique builds its map with `buildTrackMap` from its own state (the tape backup's slot
 * states, a clone's IND bits, a mirror's validity bits); `kind` names the technique and picks its
 * labels (TRACK_LABELS). The host-write flag is an overlay, not a state: the counts of 'i'/'o'
 * cells (any case) are the session's copied-in-order / copied-out-of-order counts.
 */
import { assert } from '../base/assert.js';
import type { VolumeGeometry } from '../geometry/volume-geometry.js';

export const TRACK_CODES = ['x', 'p', 'i', 'o', 'r'] as const;
export type TrackCode = (typeof TRACK_CODES)[number];
export type TrackCodeName = 'notInSession' | 'pending' | 'copiedInOrder' | 'copiedOutOfOrder' | 'recopied';
export const TRACK_MAP_KINDS = ['backup', 'clone', 'mirror'] as const;
/** The kind of session a map is of: it decides what the codes mean (TRACK_LABELS). */
export type TrackMapKind = (typeof TRACK_MAP_KINDS)[number];

/** One code of a map's legend: the code, its stable name, and what it means for this session. */
export interface TrackLegendEntry {
  readonly code: TrackCode;
  readonly name: TrackCodeName;
  readonly label: string;
}

/** The codes in drawing order (a legend lists them so). */
const DRAWING_ORDER: readonly TrackCode[] = ['p', 'i', 'o', 'r', 'x'];

const NAME_OF: Readonly<Record<TrackCode, TrackCodeName>> = { x: 'notInSession', p: 'pending', i: 'copiedInOrder', o: 'copiedOutOfOrder', r: 'recopied' };

/**
 * What each code means for each kind of session; a code a kind never produces has no label and is
 * left out of that kind's legend (`legendFor`).
 */
export const TRACK_LABELS: Readonly<Record<TrackMapKind, Partial<Record<TrackCodeName, string>>>> = {
  backup: {
    pending: 'pending',
    copiedInOrder: 'copied in order',
    copiedOutOfOrder: 'copied out of order (host write first)',
    notInSession: 'not in the session',
  },
  clone: {
    pending: 'pending (not yet on the destination)',
    copiedInOrder: 'copied by the background copy (in order)',
    copiedOutOfOrder: 'copied on demand (before a host I/O, after ACTIVATE)',
    recopied: 're-copied (written after its precopy copy)',
    notInSession: 'not in the clone',
  },
  mirror: {
    pending: 'out of sync (to be resent)',
    copiedInOrder: 'resent by the resync (in order)',
    copiedOutOfOrder: 'resent by a host write during the resync',
    notInSession: 'in sync, not part of the resync',
  },
};

/** The legend of a kind of session, in drawing order. */
export function legendFor(kind: TrackMapKind): TrackLegendEntry[] {
  const labels = TRACK_LABELS[kind];
  return DRAWING_ORDER.flatMap((code) => {
    const name = NAME_OF[code];
    const label = labels[name];
    return label === undefined ? [] : [{ code, name, label }];
  });
}

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
  /** The codes this session produces and what each means, in drawing order. */
  readonly legend: readonly TrackLegendEntry[];
  readonly counts: Readonly<Record<TrackCodeName, number>>;
  /** Units the host wrote since the start (the upper-case codes). */
  readonly hostWrittenUnits: number;
  /** Host write requests seen since the start (for a rate). */
  readonly hostWrites: number;
  readonly sampledAtMs: number;
}

export function mapShape(geometry: VolumeGeometry): { unitKind: 'track' | 'block'; columns: number; rows: number; unitCount: number } {
  if (geometry.kind === 'ckd') return { unitKind: 'track', columns: geometry.cylinders, rows: geometry.heads, unitCount: geometry.trackCount };
  return { unitKind: 'block', columns: Math.ceil(geometry.blockCount / FBA_MAP_ROWS), rows: FBA_MAP_ROWS, unitCount: geometry.blockCount };
}

export function emptyCounts(): Record<TrackCodeName, number> {
  return { notInSession: 0, pending: 0, copiedInOrder: 0, copiedOutOfOrder: 0, recopied: 0 };
}

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
    kind: parts.kind,
    ...(parts.subject !== undefined ? { subject: parts.subject } : {}),
    ...shape,
    codes: chars.join(''),
    legend: legendFor(parts.kind),
    counts,
    hostWrittenUnits,
    hostWrites: parts.hostWrites,
    sampledAtMs: Date.now(),
  };
}

/** Counts of a code string (a check, and for maps read from a file). */
export function countCodes(codes: string): Record<TrackCodeName, number> {
  const counts = emptyCounts();
  for (const c of codes) counts[codeName(c)]++;
  return counts;
}
