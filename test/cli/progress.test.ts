/**
 * Layers: CLI and library (progress). The long calls tell an optional callback their phases (copy,
 * SHA-256, verify, write, check) with counts that reach their totals; the CLI draws them as a
 * labelled bar on a terminal only: not into a pipe, not with --json or --quiet. The terminal is a
 * real pseudo-terminal made by script(1).
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createVolume,
  fillVolume,
  initTape,
  putHostFile,
  restoreTape,
  runCheck,
  verifyBackupTape,
  withVolume,
  type PhaseProgress,
} from '../../src/api/index.js';
import { runSnaptape, runSnaptapeOk, runSnaptapeOnTerminal } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
const d = (name: string): string => join(dir.path, name);

beforeAll(() => {
  dir = makeTempDir();
  createVolume(d('a.ckd'), { type: '3390', cylinders: 5, volser: 'VOLA' }).close();
  withVolume(d('a.ckd'), {}, (volume) => fillVolume(volume, { seed: 3, percent: 30 }));
  runSnaptapeOk(['backup', d('a.ckd'), '--to', d('a.aws')]);
});
afterAll(() => dir.cleanup());

/** The phases in the order reported, each with its last count, which must be its total. */
function phases(events: readonly PhaseProgress[]): { phase: string; done: number; total: number }[] {
  const out: { phase: string; done: number; total: number }[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last && last.phase === e.phase && e.done >= last.done) Object.assign(last, { done: e.done, total: e.total });
    else out.push({ phase: e.phase, done: e.done, total: e.total });
  }
  return out;
}

describe('onProgress in the library', () => {
  it('verify: SHA-256 over every block, then verify of each element', () => {
    const events: PhaseProgress[] = [];
    verifyBackupTape(d('a.aws'), { onProgress: (p) => events.push(p) });
    const seen = phases(events);
    expect(seen.map((p) => p.phase)).toEqual(['sha256', 'verify']);
    expect(seen[0]!.total).toBeGreaterThan(70); // 75 tracks of the volume
    for (const p of seen) expect(p.done).toBe(p.total);
    expect(events.length).toBeLessThan(600); // throttled, not one per block
  });

  it('restore: SHA-256 then copy onto an existing volume; one copy pass, hashing as it goes, into a new one', () => {
    const events: PhaseProgress[] = [];
    restoreTape(d('a.aws'), { to: d('r.ckd'), newVolume: true, onProgress: (p) => events.push(p) });
    const seen = phases(events).filter((p) => p.total > 0);
    expect(seen.map((p) => p.phase)).toEqual(['copy']);
    for (const p of seen) expect(p.done).toBe(p.total);
    const again: PhaseProgress[] = [];
    restoreTape(d('a.aws'), { to: d('r.ckd'), onProgress: (p) => again.push(p) });
    const seenAgain = phases(again).filter((p) => p.total > 0);
    expect(seenAgain.map((p) => p.phase)).toEqual(['sha256', 'copy']);
    for (const p of seenAgain) expect(p.done).toBe(p.total);
  });

  it('check reads every track; fill writes its tracks; tape put writes then reads back', () => {
    const checked: PhaseProgress[] = [];
    runCheck(d('a.ckd'), { onProgress: (p) => checked.push(p) });
    expect(phases(checked)).toEqual([{ phase: 'check', done: 75, total: 75 }]);
    // A tape: its chunk chain in bytes, then its labels in blocks.
    const tapeChecked: PhaseProgress[] = [];
    runCheck(d('a.aws'), { onProgress: (p) => tapeChecked.push(p) });
    const tapePhases = phases(tapeChecked);
    expect(tapePhases.map((p) => p.phase)).toEqual(['check', 'verify']);
    expect(tapePhases[0]!.total).toBe(statSync(d('a.aws')).size);
    for (const p of tapePhases) expect(p.done).toBe(p.total);
    // A subsystem: every mapped volume's track directory.
    runSnaptapeOk(['subsystem', 'init', d('sub'), '--type', '3390']);
    for (const name of ['P1', 'P2']) runSnaptapeOk(['init', join(d('sub'), name), '--mapped', '--type', '3390', '--cyls', '2', '--volser', name]);
    const subChecked: PhaseProgress[] = [];
    runCheck(d('sub'), { onProgress: (p) => subChecked.push(p) });
    expect(phases(subChecked)).toEqual([{ phase: 'check', done: 2, total: 2 }]);

    createVolume(d('f.ckd'), { type: '3390', cylinders: 5, volser: 'VOLF' }).close();
    const filled: PhaseProgress[] = [];
    const result = withVolume(d('f.ckd'), {}, (volume) => fillVolume(volume, { seed: 1, percent: 50, onProgress: (p) => filled.push(p) }));
    const fill = phases(filled);
    expect(fill.map((p) => p.phase)).toEqual(['write']);
    expect(fill[0]!.done).toBe(result.tracksWritten);

    initTape(d('t.aws'), { labelled: true, volser: 'T1' });
    writeFileSync(d('host.bin'), Buffer.alloc(200_000, 7));
    const put: PhaseProgress[] = [];
    putHostFile(d('t.aws'), d('host.bin'), {
      dsname: 'HOST.BIN',
      recordFormat: 'U',
      recordLengthBytes: 0,
      blockSizeBytes: 32760,
      text: false,
      onProgress: (p) => put.push(p),
    });
    expect(phases(put)).toEqual([
      { phase: 'write', done: 7, total: 7 },
      { phase: 'verify', done: 1, total: 1 },
    ]);
  });
});

const onTerminal = runSnaptapeOnTerminal;

describe('the bar in the CLI', () => {
  it('is drawn on a terminal with its phase labels', () => {
    const shown = onTerminal(['verify', d('a.aws')]);
    expect(shown).toContain('SHA-256');
    expect(shown).toContain('verify ');
    expect(shown).toMatch(/\d+\/\d+ blocks/);
    expect(shown).toContain('OK');
    // convert copies tracks, check of a tape walks its bytes then verifies its blocks: each labelled.
    expect(onTerminal(['convert', d('a.ckd'), d('a.cckd'), '--format', 'cckd'])).toMatch(/copy +.*\d+\/75 tracks/);
    const tapeCheck = onTerminal(['check', d('a.aws')]);
    expect(tapeCheck).toMatch(/check +.*\d+\/\d+ bytes/);
    expect(tapeCheck).toMatch(/verify +.*\d+\/\d+ blocks/);
  });

  it('is not drawn into a pipe, with --json, or with --quiet; results still print', () => {
    const piped = runSnaptape(['verify', d('a.aws')]);
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe('');
    expect(onTerminal(['verify', d('a.aws'), '--json'])).not.toContain('SHA-256');
    const quiet = onTerminal(['--quiet', 'check', d('a.ckd')]);
    expect(quiet).not.toMatch(/\d+\/\d+ tracks/);
    expect(quiet).toContain('clean');
    const quietAfter = onTerminal(['check', d('a.ckd'), '--quiet']);
    expect(quietAfter).not.toMatch(/\d+\/\d+ tracks/);
    expect(onTerminal(['check', d('a.ckd')])).toMatch(/check +.*\d+\/75 tracks/);
  });

  it("a backup's finishing phase is labelled, not a bar at 100% with ETA 0s", () => {
    const shown = onTerminal(['backup', d('a.ckd'), '--to', d('b.aws')]);
    // The last frame of the bar (before the summary) is the finished state, and once the finishing
    // phase shows, the copy bar at 100% with ETA 0s is not drawn again (one frame of it just as the
    // copy ends, under load, is the copy's own last state).
    const frames = shown.split(/\r|\[1G/);
    const drawn = frames.filter((f) => /units \d+\/75|digests \+ check/.test(f));
    expect(drawn[drawn.length - 1]).toContain('done: units 75/75 copied and hashed, tape checked');
    const finishing = drawn.findIndex((f) => f.includes('digests + check'));
    if (finishing >= 0) expect(drawn.slice(finishing).filter((f) => /100%.*ETA 0s/.test(f))).toEqual([]);
  });
});
