/**
 * A SIGKILL in the middle of `snaptape version create` leaves the catalog consistent (issue 9,
 * Acceptance). Each run starts the real CLI and kills it after a seeded random delay spread over
 * most of the length of an unkilled create (so kills land before, during and after the copies,
 * and at least 95% of them before the process ends). The next open of the catalog recovers; then every version is complete
 * (with its RR and its storage media) or absent, no COPY record or `creating` row remains, and the
 * reserved targets are exactly those of the pairs in the RRs and PPRs. A last create completes.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../../src/base/prng.js';
import { listRecords, listStorageMedia, listVersions } from '../../src/catalog/catalog-records.js';
import Database from 'better-sqlite3';
import { Catalog } from '../../src/catalog/catalog.js';
import { fcSeed } from '../harness/fc-seed.js';
import { crashRuns, MIN_KILLED_SHARE, recordCrashFigures } from '../harness/crash-child.js';
import { SNAPTAPE_BIN, runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { addVolumes, makePool, makeTapeTarget, openTestCatalog } from './version-fixtures.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';

/** Extra kills at most, aimed mid-create, when no sliced kill caught a create in the middle. */
const EXTRA_KILLS = 12;
/** Issue 9 asks for at least five; eight slices make a run with no kill inside a create unlikely. */
const KILL_RUNS = crashRuns(8);
/** Kills are drawn within this share of an unkilled create's length (its CLI start-up included). */
const KILL_WINDOW_SHARE = 0.7;
/** Sources big enough that the copies take a noticeable share of a create. */
const CRASH_SOURCE_CYLINDERS = 15;

let dir: TempDir;
let catalogFile: string;
const createArgs = (): string[] => ['version', 'create', '--source', 'SRC', '--pool', '01', '--catalog', catalogFile];

beforeAll(() => {
  dir = makeTempDir('snaptape-crash-');
  catalogFile = join(dir.path, 'snaptape.db');
  const catalog = openTestCatalog(dir.path);
  makePool(catalog, 'SRC', 'source');
  makePool(catalog, '01', 'target');
  const sources = [1, 2].map((k) => {
    const volume = makeFilledVolume(dir.path, { cylinders: CRASH_SOURCE_CYLINDERS, seed: k, name: `s${k}.ckd` });
    volume.close();
    return volume.path;
  });
  addVolumes(catalog, 'SRC', sources);
  addVolumes(
    catalog,
    '01',
    // FBA volumes with room for the tape of a 15-cylinder source (tapeBytesBound).
    [1, 2, 3].map((k) => makeTapeTarget(dir.path, `t${k}`, 26_000)),
    'tape',
  );
  catalog.close();
});
afterAll(() => dir.cleanup());

function killAfter(delayMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SNAPTAPE_BIN, ...createArgs()], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal);
    });
  });
}

/** The `creating` rows a killed create left, read without opening (and so recovering) the catalog. */
function creatingRowsBeforeRecovery(): number {
  const db = new Database(catalogFile, { readonly: true });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM versions WHERE state = 'creating'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function checkConsistent(): { complete: number[] } {
  const catalog = Catalog.open(catalogFile); // Opening runs the recovery.
  try {
    const db = catalog.db;
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const versions = listVersions(db);
    expect(versions.filter((v) => v.state === 'creating')).toEqual([]);
    expect(listRecords(db).filter((r) => r.kind === 'COPY')).toEqual([]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM volumes WHERE reserved_in_version IS NOT NULL').get()).toEqual({ n: 0 });
    const complete = versions.filter((v) => v.state === 'complete');
    expect(complete.length).toBeLessThanOrEqual(1); // One target pool: each version replaces the last.
    for (const v of versions) {
      const media = listStorageMedia(db, v.version);
      expect(media.map((m) => m.sourcePath).sort()).toHaveLength(2);
      for (const m of media) expect(existsSync(m.copyPath)).toBe(true);
      const rr = listRecords(db).find((r) => r.kind === 'RR' && r.version === v.version);
      if (v.state === 'complete') expect(rr?.pairs.map((p) => p.sourcePath)).toEqual(media.map((m) => m.sourcePath));
      else expect(rr).toBeUndefined();
    }
    const paired = new Set(listRecords(db).flatMap((r) => r.pairs.map((p) => `${p.targetPath}<-${p.sourcePath}`)));
    const reserved = (
      db.prepare('SELECT path, reserved_for FROM volumes WHERE reserved_for IS NOT NULL').all() as { path: string; reserved_for: string }[]
    ).map((r) => `${r.path}<-${r.reserved_for}`);
    expect(new Set(reserved)).toEqual(paired);
    return { complete: complete.map((v) => v.version) };
  } finally {
    catalog.close();
  }
}

describe('SIGKILL during version create', () => {
  it(
    `leaves each version complete or absent and no target reserved, over ${KILL_RUNS} kills`,
    async () => {
      const seed = fcSeed('version-crash');
      const prng = new Prng(seed);
      // Kill times are drawn within the shortest of three unkilled creates (a second one is often faster,
      // its files in the page cache), less a margin: a kill drawn past the end would be a run, not a crash.
      const timedCreate = (): number => {
        const started = Date.now();
        const created = runSnaptape(createArgs());
        expect(created.stderr).toBe('');
        return Date.now() - started;
      };
      const wholeCreateMs = Math.min(timedCreate(), timedCreate(), timedCreate());
      const killWindowMs = wholeCreateMs * KILL_WINDOW_SHARE;
      checkConsistent();
      const outcomes: string[] = [];
      let killedMidCreate = 0;
      for (let run = 0; run < KILL_RUNS; run++) {
        // One kill in each of KILL_RUNS equal slices of the create's length, at a seeded place in it.
        const sliceMs = killWindowMs / KILL_RUNS;
        const delayMs = Math.round(run * sliceMs + prng.below(Math.floor(sliceMs)));
        const signal = await killAfter(delayMs);
        const leftCreating = creatingRowsBeforeRecovery();
        if (leftCreating > 0) killedMidCreate++;
        const { complete } = checkConsistent();
        outcomes.push(`${delayMs}ms:${signal ?? 'exited'}:creating=${leftCreating}:v${complete.join(',')}`);
      }
      // A machine that ran the later creates much faster than the measured one can let every sliced
      // kill miss; then a bounded number of extra kills aim at the middle of a create.
      for (let extra = 0; extra < EXTRA_KILLS && killedMidCreate === 0; extra++) {
        const delayMs = Math.round(wholeCreateMs * (0.3 + (0.6 * prng.below(1000)) / 1000));
        const signal = await killAfter(delayMs);
        const leftCreating = creatingRowsBeforeRecovery();
        if (leftCreating > 0) killedMidCreate++;
        const { complete } = checkConsistent();
        outcomes.push(`extra ${delayMs}ms:${signal ?? 'exited'}:creating=${leftCreating}:v${complete.join(',')}`);
      }
      console.log(`[version-crash] create takes ${wholeCreateMs}ms; kills: ${outcomes.join(' ')}`);
      // At least one kill must have caught a create between its two transactions, or the test proved little.
      expect(killedMidCreate).toBeGreaterThan(0);
      const last = runSnaptape([...createArgs(), '--json']);
      expect(last.stderr).toBe('');
      const result = JSON.parse(last.stdout) as { version: number; comparison: { equal: boolean } };
      expect(result.comparison.equal).toBe(true);
      expect(checkConsistent().complete).toEqual([result.version]);
      // checkConsistent asserted after every kill that no version is complete without its RR and media.
      const kills = outcomes.filter((o) => o.includes('SIGKILL')).length;
      recordCrashFigures({
        technique: 'version create',
        runs: outcomes.length,
        killDraws: outcomes.length,
        kills,
        killedMidCreate,
        ackedWritesLost: 'n/a (no host writes)',
        falselyComplete: 0,
      });
      expect(kills, `${kills} of ${outcomes.length} creates were killed before they finished`).toBeGreaterThanOrEqual(
        Math.ceil(MIN_KILLED_SHARE * outcomes.length),
      );
    },
    120_000 + KILL_RUNS * 5_000,
  );
});
