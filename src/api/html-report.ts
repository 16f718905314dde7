/**
 * The self-contained HTML report of a backup or a drill (`--report out.html`): the final track map
 * as inline SVG, the timings, the copies out of order, the host load, and the SHA-256 of every
 * element; for a drill also the restore and the comparison with the point in time. No script, no
 * external resource: the file opens anywhere, offline.
 */
import { writeFileSync } from 'node:fs';
import { translateIoError } from '../errors/io-error.js';
import type { BackupRun } from './backup-api.js';
import type { DrillReport } from './drill-api.js';
import { renderTrackMapSvg } from '../live/track-map-svg.js';
import type { TrackMapSnapshot } from '../session/session-view.js';

export interface ReportInput {
  readonly title: string;
  readonly backup: BackupRun;
  readonly map: TrackMapSnapshot | undefined;
  readonly drill?: DrillReport;
}

function escapeHtml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}

function rows(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n');
}

const STYLE =
  'body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f4f4f4}code{font-size:90%}.pass{color:#0072B2}.fail{color:#D55E00}';

export function renderReportHtml(input: ReportInput): string {
  const s = input.backup.summary;
  const outOfOrderShare = s.copiedInOrder + s.copiedOutOfOrder > 0 ? (100 * s.copiedOutOfOrder) / (s.copiedInOrder + s.copiedOutOfOrder) : 0;
  const timings: Array<readonly [string, string]> = [
    ['source', `${s.source.path} (${s.source.typeName} ${s.source.volser})`],
    ['tape', `${s.tapePath} (${s.tapeBytes} bytes, verified: ${s.verification.entryCount} blocks and tapemarks)`],
    ['backup time', `${s.seconds.toFixed(3)} s (copy ${s.copySeconds.toFixed(3)} s)`],
    ['bytes', `${s.bytes} at ${s.mbPerSecond.toFixed(1)} MB/s`],
    ['copied in order', String(s.copiedInOrder)],
    ['copied out of order', `${s.copiedOutOfOrder} (${outOfOrderShare.toFixed(1)} %)`],
  ];
  const load = input.backup.load;
  if (load)
    timings.push([
      'host writes during the backup',
      `${load.writes} (${load.ratePerSecond.toFixed(0)}/s), latency p50 ${load.latencyP50Us.toFixed(1)} µs, p99 ${load.latencyP99Us.toFixed(1)} µs (corrected for coordinated omission: p99 ${load.correctedP99Us.toFixed(1)} µs, max ${load.correctedMaxUs.toFixed(0)} µs)`,
    ]);
  if (s.cbwError) timings.push(['copy-before-write failure', `${s.cbwError.policy}: ${s.cbwError.reason} (${s.cbwError.count}×)`]);
  const drill = input.drill;
  if (drill) {
    timings.push(['restore time', `${drill.restoreSeconds.toFixed(3)} s`]);
    timings.push([
      'compare with the point in time',
      `${drill.comparison.units} units, ${drill.comparison.mismatched} mismatched${drill.comparison.firstMismatch !== null ? ` (first: unit ${drill.comparison.firstMismatch})` : ''}`,
    ]);
  }
  const digests = s.elements
    .map((e) => `<tr><td>${escapeHtml(e.name)}</td><td>${e.blocks}</td><td>${e.bytes}</td><td><code class="sha256">${e.sha256}</code></td></tr>`)
    .join('\n');
  const verdict = drill ? `<p class="${drill.pass ? 'pass' : 'fail'}"><strong>Drill ${drill.pass ? 'PASSED' : 'FAILED'}</strong></p>` : '';
  return [
    '<!DOCTYPE html>',
    `<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${escapeHtml(input.title)}</h1>`,
    verdict,
    `<table class="timings">${rows(timings)}</table>`,
    '<h2>SHA-256 of the tape elements</h2>',
    "<p>Each element's digest is taken over its data blocks as written, then the tape is read back and verified.</p>",
    `<table class="digests"><tr><th>element</th><th>blocks</th><th>bytes</th><th>SHA-256</th></tr>${digests}</table>`,
    '<h2>Track map</h2>',
    input.map ? renderTrackMapSvg(input.map) : '<p>No track map was recorded.</p>',
    `<p><small>Written ${escapeHtml(new Date().toISOString())} by snaptape.</small></p>`,
    '</body></html>',
    '',
  ].join('\n');
}

/** Writes a self-contained HTML report of a finished backup or drill (summary and track map) to `path`. Throws IoError when it cannot be written. */
export function writeReport(path: string, input: ReportInput): void {
  try {
    writeFileSync(path, renderReportHtml(input));
  } catch (error) {
    throw translateIoError(error, 'write the report', path);
  }
}
