/**
 * Layers: library and CLI (progress of the long commands that had no bar: compare, drill, clone
 * run, snapshot --physical, version create and restore, mirror backup). Each long call tells an
 * optional callback its phases with counts that reach their totals; the CLI draws them as the one
 * labelled bar on a terminal (script(1)), draws nothing into a pipe, and prints exactly one JSON
 * document with --json.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compareImages,
  createVersion,
  createVolume,
  defineSnapshot,
  executeSnapshot,
  fillVolume,
  parseLoadSpec,
  restoreFromVersion,
  runClone,
  runDrill,
  runPhysicalCopy,
  withVolume,
  type PhaseProgress,
} from '../../src/api/index.js';
import { addVolumes, makePool, makeSource, makeTapeTarget, makeTarget, openTestCatalog, SOURCE_CYLINDERS } from '../versions/version-fixtures.js';
import { killAllServers, startServe } from '../server/helpers/serve-process.js';
import { runSnaptape, runSnaptapeOk, runSnaptapeOnTerminal } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
const d = (name: string): string => join(dir.path, name);

/** Tracks of the 3390 test volumes: 2 cylinders, small so that every command here is quick. */
const TRACKS = 30;

beforeAll(() => {
  dir = makeTempDir();
  createVolume(d('a.ckd'), { type: '3390', cylinders: 2, volser: 'VOLA' }).close();
  withVolume(d('a.ckd'), {}, (volume) => fillVolume(volume, { seed: 3, percent: 30 }));
  copyFileSync(d('a.ckd'), d('b.ckd'));
  runSnaptapeOk(['subsystem', 'init', d('sub'), '--type', '3390']);
  runSnaptapeOk(['init', join(d('sub'), 'SRC'), '--mapped', '--type', '3390', '--cyls', '2', '--volser', 'SRC001']);
  runSnaptapeOk(['fill', join(d('sub'), 'SRC'), '--percent', '50']);
});
afterAll(() => {
  killAllServers();
  dir.cleanup();
});

/** The phases in the order reported, each with its last count. */
function phases(events: readonly PhaseProgress[]): { phase: string; done: number; total: number; unit: string }[] {
  const out: { phase: string; done: number; total: number; unit: string }[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last && last.phase === e.phase && e.total === last.total) Object.assign(last, { done: e.done });
    else out.push({ phase: e.phase, done: e.done, total: e.total, unit: e.unit });
  }
  return out;
}

/** A frame of the phase bar: "copy    ███░░ 40% | 30/75 tracks", its label, its bar and its counts. */
function bar(label: string, unit: string, total = '\\d+'): RegExp {
  return new RegExp(`${label} +[\u2588\u2591]+ \\d+% \\| \\d+/${total} ${unit}`);
}

function emptyVolume(name: string): string {
  createVolume(d(name), { type: '3390', cylinders: 2, volser: 'EMPTY1' }).close();
  return d(name);
}

describe('onProgress of the long library calls', () => {
  it('init: write of every empty track of a CKD image', () => {
    const events: PhaseProgress[] = [];
    createVolume(d('new.ckd'), { type: '3390', cylinders: 2, volser: 'NEW001', onProgress: (p) => events.push(p) }).close();
    expect(phases(events)).toEqual([{ phase: 'write', done: TRACKS, total: TRACKS, unit: 'tracks' }]);
  });

  it('compare: verify of every unit', () => {
    const events: PhaseProgress[] = [];
    compareImages(d('a.ckd'), d('b.ckd'), { onProgress: (p) => events.push(p) });
    expect(phases(events)).toEqual([{ phase: 'verify', done: TRACKS, total: TRACKS, unit: 'tracks' }]);
  });

  it("drill: after the backup, the restore's one pass (copy, hashed as it goes), then verify of the comparison", async () => {
    const events: PhaseProgress[] = [];
    const report = await runDrill({ image: d('a.ckd'), load: parseLoadSpec('random:200'), onPhaseProgress: (p) => events.push(p) });
    expect(report.pass).toBe(true);
    const seen = phases(events).filter((p) => p.total > 0);
    // A restore to a new volume hashes the tape as it writes it: one copy phase, no SHA-256 pass first.
    expect(seen.map((p) => p.phase)).toEqual(['copy', 'verify']);
    for (const p of seen) expect(p.done).toBe(p.total);
    expect(seen[1]).toEqual({ phase: 'verify', done: TRACKS, total: TRACKS, unit: 'tracks' });
  });

  it('clone run: copy of every track, ending at its total', async () => {
    const events: PhaseProgress[] = [];
    await runClone(d('a.ckd'), emptyVolume('c.ckd'), { onProgress: (p) => events.push(p) });
    const seen = phases(events);
    expect(seen.map((p) => p.phase)).toEqual(['copy']);
    expect(events[events.length - 1]).toEqual({ phase: 'copy', done: TRACKS, total: TRACKS, unit: 'tracks' });
  });

  it('snapshot physical copy: copy of every allocated track', async () => {
    const defined = defineSnapshot(join(d('sub'), 'SRC'), join(d('sub'), 'LIBSNAP'), { volser: 'SNP001' });
    const executed = executeSnapshot(defined.token, { physical: d('lib-physical.ckd') });
    const events: PhaseProgress[] = [];
    await runPhysicalCopy(executed.pollingToken, { onProgress: (p) => events.push(p) });
    const seen = phases(events);
    expect(seen.map((p) => p.phase)).toEqual(['copy']);
    expect(seen[0]!.total).toBeGreaterThan(0);
    expect(seen[0]!.done).toBe(seen[0]!.total);
  });

  it('version create: the tape pairs summed into one copy phase, then each clone pair; restore of a clone version: copy', async () => {
    const root = d('vlib');
    mkdirSync(root);
    const catalog = openTestCatalog(root);
    try {
      makePool(catalog, 'SRC', 'source');
      makePool(catalog, '01', 'target');
      makePool(catalog, '02', 'target');
      const sources = [makeSource(root, 's1', 41), makeSource(root, 's2', 42)];
      addVolumes(catalog, 'SRC', sources);
      addVolumes(catalog, '01', [makeTapeTarget(root, 't1'), makeTapeTarget(root, 't2')], 'tape');
      addVolumes(catalog, '02', [makeTarget(root, 'c1'), makeTarget(root, 'c2')], 'clone');
      const perSource = SOURCE_CYLINDERS * 15;

      const tape: PhaseProgress[] = [];
      await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'tape', onProgress: (p) => tape.push(p) });
      expect(phases(tape)).toEqual([{ phase: 'copy', done: 2 * perSource, total: 2 * perSource, unit: 'tracks' }]);

      const clone: PhaseProgress[] = [];
      await createVersion(catalog, { sourcePool: 'SRC', targetPool: '02', technology: 'clone', onProgress: (p) => clone.push(p) });
      expect(new Set(clone.map((p) => `${p.phase} ${p.total} ${p.unit}`))).toEqual(new Set([`copy ${perSource} tracks`]));
      expect(clone.filter((p) => p.done === perSource).length, 'each clone ends at its total').toBeGreaterThanOrEqual(2);

      const restored: PhaseProgress[] = [];
      await restoreFromVersion(catalog, { version: 2, sourcePath: sources[0], to: join(root, 'r.ckd'), onProgress: (p) => restored.push(p) });
      expect(restored[restored.length - 1]).toEqual({ phase: 'copy', done: perSource, total: perSource, unit: 'tracks' });
    } finally {
      catalog.close();
    }
  });
});

describe('the bar of the long commands in the CLI', () => {
  it('init: write on a terminal; one JSON document with --json', () => {
    expect(runSnaptapeOnTerminal(['init', d('i1.ckd'), '--type', '3390', '--cyls', '2', '--volser', 'INIT01'])).toMatch(bar('write', 'tracks', '30'));
    const json = JSON.parse(runSnaptapeOnTerminal(['init', d('i2.ckd'), '--type', '3390', '--cyls', '2', '--volser', 'INIT02', '--json'])) as { units: number };
    expect(json.units).toBe(TRACKS);
  });

  it('compare: verify on a terminal; one JSON document with --json; nothing into a pipe', () => {
    expect(runSnaptapeOnTerminal(['compare', d('a.ckd'), d('b.ckd')])).toMatch(bar('verify', 'tracks', '30'));
    const json = runSnaptapeOnTerminal(['compare', d('a.ckd'), d('b.ckd'), '--json']);
    expect(JSON.parse(json)).toEqual({ units: TRACKS, mismatched: 0, firstMismatch: null });
    const piped = runSnaptape(['compare', d('a.ckd'), d('b.ckd')]);
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe('');
    // eslint-disable-next-line no-control-regex -- ESC is the byte this asserts on
    expect(piped.stdout).not.toMatch(/\x1b/);
  });

  it('drill: the backup, then copy and verify, each labelled; --json stays one document', () => {
    const shown = runSnaptapeOnTerminal(['drill', d('a.ckd'), '--load', 'random:200']);
    expect(shown).toMatch(/units \d+\/30/);
    // The restore copies tape blocks (hashing them as it goes); the comparison reads tracks.
    expect(shown).toMatch(bar('copy', 'blocks'));
    expect(shown).toMatch(bar('verify', 'tracks', '30'));
    expect(shown).toContain('Drill PASSED');
    const json = JSON.parse(runSnaptapeOnTerminal(['drill', d('a.ckd'), '--load', 'random:200', '--json'])) as { pass: boolean };
    expect(json.pass).toBe(true);
  });

  it('clone run: copy on a terminal; one JSON document with --json; nothing into a pipe', () => {
    expect(runSnaptapeOnTerminal(['clone', 'run', d('a.ckd'), emptyVolume('t1.ckd')])).toMatch(bar('copy', 'tracks', '30'));
    const json = JSON.parse(runSnaptapeOnTerminal(['clone', 'run', d('a.ckd'), emptyVolume('t2.ckd'), '--json'])) as { final: { tracksLeft: number } };
    expect(json.final.tracksLeft).toBe(0);
    const piped = runSnaptape(['clone', 'run', d('a.ckd'), emptyVolume('t3.ckd')]);
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe('');
  });

  it('snapshot --physical: copy on a terminal; one JSON document with --json; nothing into a pipe', () => {
    const src = join(d('sub'), 'SRC');
    expect(runSnaptapeOnTerminal(['snapshot', src, join(d('sub'), 'S1'), '--volser', 'SNP002', '--physical', d('s1.ckd')])).toMatch(bar('copy', 'tracks'));
    const json = JSON.parse(runSnaptapeOnTerminal(['snapshot', src, join(d('sub'), 'S2'), '--volser', 'SNP003', '--physical', d('s2.ckd'), '--json'])) as {
      state: string;
    };
    expect(json.state).toBe('complete');
    const piped = runSnaptape(['snapshot', src, join(d('sub'), 'S3'), '--volser', 'SNP004', '--physical', d('s3.ckd')]);
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
  });

  it('subsystem check: check of every track directory on a terminal; one JSON document with --json', () => {
    expect(runSnaptapeOnTerminal(['subsystem', 'check', d('sub')])).toMatch(bar('check', 'directories'));
    const json = JSON.parse(runSnaptapeOnTerminal(['subsystem', 'check', d('sub'), '--json'])) as { clean: boolean };
    expect(json.clean).toBe(true);
  });

  it('version create and version restore: labelled on a terminal; one JSON document with --json', () => {
    const cat = ['--catalog', d('cat.db')];
    runSnaptapeOk(['pool', 'create', 'SRC', '--role', 'source', ...cat]);
    runSnaptapeOk(['pool', 'create', '01', '--role', 'target', ...cat]);
    runSnaptapeOk(['pool', 'add', 'SRC', d('a.ckd'), ...cat]);
    runSnaptapeOk(['init', d('tape1.fba'), '--type', 'fba', '--blocks', '8000', '--volser', 'TGT001']);
    runSnaptapeOk(['pool', 'add', '01', d('tape1.fba'), '--technology', 'tape', ...cat]);
    const created = runSnaptapeOnTerminal(['version', 'create', '--source', 'SRC', '--pool', '01', ...cat]);
    expect(created).toMatch(bar('copy', 'tracks', '30'));
    expect(created).toContain('version 1 complete');
    const restored = runSnaptapeOnTerminal(['version', 'restore', '1', '--volume', d('a.ckd'), '--to', d('vr.ckd'), ...cat]);
    expect(restored).toMatch(bar('copy', 'blocks'));
    const restoredJson = JSON.parse(runSnaptapeOnTerminal(['version', 'restore', '1', '--volume', d('a.ckd'), '--to', d('vr3.ckd'), '--json', ...cat])) as {
      to: string;
    };
    expect(restoredJson.to).toBe(d('vr3.ckd'));
  });

  it("mirror backup: the server's backup drawn as the backup bar; --json stays one document", async () => {
    copyFileSync(d('a.ckd'), d('sec.ckd'));
    const socket = d('sec.sock');
    const server = await startServe([d('sec.ckd'), '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
    try {
      const shown = runSnaptapeOnTerminal(['mirror', 'backup', 'sec', '--to', d('m1.aws'), '--rejoin', '--server', socket]);
      expect(shown).toMatch(/done: units 30\/30 copied and hashed, tape checked/);
      const json = JSON.parse(runSnaptapeOnTerminal(['mirror', 'backup', 'sec', '--to', d('m2.aws'), '--rejoin', '--server', socket, '--json'])) as {
        backup: { state: string };
      };
      expect(json.backup.state).toBe('completed');
    } finally {
      await server.stop();
    }
  });
});
