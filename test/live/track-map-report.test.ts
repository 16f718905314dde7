/**
 * The static views of a finished backup (issue 12, items 3 and 4): `snaptape backup --events
 * --report` under a synthetic load, then `snaptape map --svg`. Checks that the SVG has exactly one
 * cell per track and that its colour counts equal the summary's copiedInOrder/copiedOutOfOrder,
 * that the report holds the SVG and every SHA-256, that every `--events` line is JSON in the
 * control API's event shape, and `drill --report --events` likewise.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape } from '../harness/run-cli.js';
import { TRACK_LEGEND } from '../../src/live/track-map.js';
import type { SessionEvent } from '../../src/control-api/control-api-types.js';
import type { BackupSummary } from '../../src/techniques/tape-backup/tape-backup-session.js';

const CYLINDERS = 12;
const HEADS_3390 = 15;

function colourCounts(svg: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of svg.matchAll(/<rect class="cell"[^>]* fill="(#[0-9A-F]{6})"\/>/g)) counts.set(m[1] as string, (counts.get(m[1] as string) ?? 0) + 1);
  return counts;
}

function colourOf(name: string): string {
  const entry = TRACK_LEGEND.find((e) => e.name === name);
  if (!entry) throw new Error(`no legend entry ${name}`);
  return entry.colour;
}

function parseEvents(stdout: string): SessionEvent[] {
  return stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{"kind":"state"') || l.startsWith('{"kind":"progress"') || l.startsWith('{"kind":"end"'))
    .map((l) => JSON.parse(l) as SessionEvent);
}

describe('track map of a finished backup, report and --events', () => {
  let dir: TempDir;
  let image: string;

  beforeAll(() => {
    dir = makeTempDir('snaptape-live-map-');
    image = join(dir.path, 'src.ckd');
    expect(runSnaptape(['init', image, '--type', '3390', '--cyls', String(CYLINDERS), '--volser', 'SRC001']).status).toBe(0);
    expect(runSnaptape(['fill', image, '--seed', '3', '--percent', '70']).status).toBe(0);
  });

  afterAll(() => dir.cleanup());

  it('backup --events --report, then map --svg: one cell per track, colours match the summary', () => {
    const tape = join(dir.path, 'b.aws');
    const report = join(dir.path, 'b.html');
    const run = runSnaptape(
      ['backup', image, '--to', tape, '--load', 'random:3000', '--throttle-mbps', '15', '--workers', '2', '--events', '--report', report],
      { timeoutMs: 60_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    // Every stdout line is one JSON event.
    const lines = run.stdout.trim().split('\n');
    const events = lines.map((l) => JSON.parse(l) as SessionEvent);
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.every((e) => ['state', 'progress', 'end'].includes(e.kind) && e.session.type === 'backup')).toBe(true);
    const end = events[events.length - 1];
    expect(end?.kind).toBe('end');
    const summary = end?.session.summary as BackupSummary;
    expect(summary.copiedInOrder + summary.copiedOutOfOrder).toBeGreaterThan(0);
    expect(summary.copiedOutOfOrder, 'the load forced some copies out of order').toBeGreaterThan(0);

    const svgPath = join(dir.path, 'b.svg');
    const map = runSnaptape(['map', tape, '--svg', svgPath, '--json']);
    expect(map.status, map.stderr).toBe(0);
    const svg = readFileSync(svgPath, 'utf8');
    expect([...svg.matchAll(/<rect class="cell"/g)].length).toBe(CYLINDERS * HEADS_3390);
    const counts = colourCounts(svg);
    expect(counts.get(colourOf('copiedInOrder')) ?? 0).toBe(summary.copiedInOrder);
    expect(counts.get(colourOf('copiedOutOfOrder')) ?? 0).toBe(summary.copiedOutOfOrder);
    expect(counts.get(colourOf('pending')) ?? 0).toBe(0);
    // A whole-volume backup takes every track: none is outside the session.
    expect(counts.get(colourOf('notInSession')) ?? 0).toBe(0);
    expect([...svg.matchAll(/<rect class="hw"/g)].length, 'host writes are marked').toBeGreaterThan(0);

    const html = readFileSync(report, 'utf8');
    expect(html).toContain('<svg');
    expect([...html.matchAll(/<rect class="cell"/g)].length).toBe(CYLINDERS * HEADS_3390);
    for (const e of summary.elements) expect(html).toContain(e.sha256);
    expect(html).toContain(`<td>${summary.copiedOutOfOrder} (`);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  }, 90_000);

  it('drill --events --report: JSON lines, then a drill result; the report has the map and digests', () => {
    const report = join(dir.path, 'd.html');
    const run = runSnaptape(['drill', image, '--load', 'random:1000', '--workers', '2', '--events', '--report', report], { timeoutMs: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string });
    expect(lines[lines.length - 1]).toMatchObject({ kind: 'drill', pass: true });
    const events = parseEvents(run.stdout);
    const end = events.find((e) => e.kind === 'end');
    const summary = end?.session.summary as BackupSummary;
    const html = readFileSync(report, 'utf8');
    expect(html).toContain('Drill PASSED');
    expect([...html.matchAll(/<rect class="cell"/g)].length).toBe(CYLINDERS * HEADS_3390);
    for (const e of summary.elements) expect(html).toContain(e.sha256);
  }, 90_000);
});
