/**
 * SVG drawing of a track map: one `<rect class="cell">` per unit, laid out with cylinders as
 * columns and heads as rows (track index = cylinder × heads + head), wrapped into bands of
 * MAX_COLUMNS_PER_BAND cylinders so a large volume stays readable. Units the host wrote carry a
 * small square mark (one `<rect class="hw">` each) over their cell. A legend with counts follows,
 * in the words of the map's own legend (a clone's or a mirror's codes mean their own things).
 *
 * Invariant: exactly `unitCount` elements of class "cell", each filled with its legend colour, so
 * the colour counts equal the map's counts (test/live checks this against the backup summary).
 */
import type { TrackMapSnapshot } from '../session/session-view.js';
import { HOST_WRITE_COLOUR, HOST_WRITE_LABEL, TRACK_COLOURS } from './track-map.js';

/** Cylinders per band: 3390-3 (3339 cylinders) makes 17 bands; wider SVGs scroll badly. */
export const MAX_COLUMNS_PER_BAND = 200;
/** Cell edge in SVG user units. */
const CELL = 6;
const BAND_GAP = 10;
const LEGEND_ROW = 16;

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}

/** Draws a track map as an SVG document (one cell a track, coloured by state, with its legend). */
export function renderTrackMapSvg(map: TrackMapSnapshot, options: { title?: string } = {}): string {
  const bandColumns = Math.min(map.columns, MAX_COLUMNS_PER_BAND);
  const bands = Math.ceil(map.columns / bandColumns);
  const bandHeight = map.rows * CELL + BAND_GAP;
  const mapHeight = bands * bandHeight;
  const width = Math.max(bandColumns * CELL, 360);
  const legendTop = mapHeight + 8;
  const entries = map.legend;
  const height = legendTop + (entries.length + 1) * LEGEND_ROW + 4;
  const cells: string[] = [];
  const marks: string[] = [];
  for (let u = 0; u < map.unitCount; u++) {
    const column = Math.floor(u / map.rows);
    const row = u % map.rows;
    const x = (column % bandColumns) * CELL;
    const y = Math.floor(column / bandColumns) * bandHeight + row * CELL;
    const code = map.codes[u] as string;
    const lower = code.toLowerCase();
    cells.push(`<rect class="cell" data-code="${lower}" x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="${TRACK_COLOURS[lower] ?? '#FFFFFF'}"/>`);
    if (code !== lower)
      marks.push(`<rect class="hw" x="${x + 2}" y="${y + 2}" width="2" height="2" fill="${HOST_WRITE_COLOUR}" stroke="#000000" stroke-width="0.5"/>`);
  }
  const legend = entries.map((e, i) => {
    const y = legendTop + i * LEGEND_ROW;
    return `<g class="legend"><rect x="0" y="${y}" width="10" height="10" fill="${TRACK_COLOURS[e.code] ?? '#FFFFFF'}" stroke="#555555" stroke-width="0.5"/><text x="16" y="${y + 9}">${escapeXml(e.label)}: ${map.counts[e.name]}</text></g>`;
  });
  const hwY = legendTop + entries.length * LEGEND_ROW;
  legend.push(
    `<g class="legend"><rect x="3" y="${hwY + 3}" width="4" height="4" fill="${HOST_WRITE_COLOUR}" stroke="#000000" stroke-width="0.5"/><text x="16" y="${hwY + 9}">${escapeXml(HOST_WRITE_LABEL)}: ${map.hostWrittenUnits} ${map.unitKind}s</text></g>`,
  );
  const of = `${map.kind}${map.subject !== undefined ? ` ${map.subject}` : ''}`;
  const title =
    options.title ??
    `Track map (${of}): ${map.unitCount} ${map.unitKind}s, ${map.columns} ${map.unitKind === 'track' ? 'cylinders' : 'columns'} × ${map.rows} ${map.unitKind === 'track' ? 'heads' : 'rows'}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="track-map" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<g class="cells" stroke="#E0E0E0" stroke-width="0.5">`,
    ...cells,
    '</g>',
    '<g class="marks">',
    ...marks,
    '</g>',
    ...legend,
    '</svg>',
  ].join('\n');
}
