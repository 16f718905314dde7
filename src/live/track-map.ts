/**
 * How a track map is coloured: one colour per code, the same for every session (a map's own
 * `legend` says what each code means for its session: src/session/session-view.ts), and the
 * host-write overlay. The drawers (track-map-svg.ts, the live page) read only this and the map.
 *
 * Colours: the Okabe–Ito palette (distinct under the common colour-vision deficiencies).
 */
import type { TrackCode, TrackCodeName } from '../session/session-view.js';

export interface TrackColourEntry {
  readonly code: TrackCode;
  readonly name: TrackCodeName;
  /** The generic word for the code, shown before a map brings its own legend. */
  readonly label: string;
  readonly colour: string;
}

/** Every code's colour, in drawing order. Okabe–Ito: blue, vermillion, reddish purple; grey and white for the rest. */
export const TRACK_LEGEND: readonly TrackColourEntry[] = [
  { code: 'p', name: 'pending', label: 'pending', colour: '#BBBBBB' },
  { code: 'i', name: 'copiedInOrder', label: 'copied in order', colour: '#0072B2' },
  { code: 'o', name: 'copiedOutOfOrder', label: 'copied out of order (host write first)', colour: '#D55E00' },
  { code: 'r', name: 'recopied', label: 're-copied', colour: '#CC79A7' },
  { code: 'x', name: 'notInSession', label: 'not in the session', colour: '#FFFFFF' },
];

export const TRACK_COLOURS: Readonly<Record<string, string>> = Object.fromEntries(TRACK_LEGEND.map((e) => [e.code, e.colour]));

/** The overlay mark of a unit the host wrote since the session started (Okabe–Ito yellow on black edge). */
export const HOST_WRITE_COLOUR = '#F0E442';
export const HOST_WRITE_LABEL = 'written by the host since the start';
