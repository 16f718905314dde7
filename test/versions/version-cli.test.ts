/**
 * The CLI of issue 9 (Build 5), run as a user runs it: `pool create|add|remove|ls`,
 * `version prepair|create|ls|show [--json]` and `version restore <version> <dataset>`, with the
 * catalog named by --catalog or $SNAPTAPE_CATALOG. A failed target selection shows in `version ls`
 * and in the log file.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { describeVolume, openVolume } from '../../src/api/volume-api.js';
import { getDataset } from '../../src/vtoc/dataset-io.js';
import { SNAPTAPE_BIN, runSnaptape, runSnaptapeJson, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { makeSource, makeTapeTarget } from './version-fixtures.js';

let dir: TempDir;
let db: string;
const cat = (): string[] => ['--catalog', db];

beforeAll(() => {
  dir = makeTempDir('snaptape-vcli-');
  db = join(dir.path, 'cat.db');
});
afterAll(() => dir.cleanup());

describe('snaptape pool and version', () => {
  it('runs a version cycle from the command line', () => {
    const s1 = makeSource(dir.path, 's1', 21);
    const small = makeTapeTarget(dir.path, 'small', 100);
    const t1 = makeTapeTarget(dir.path, 't1');
    runSnaptapeOk(['pool', 'create', 'SRC', '--role', 'source', ...cat()]);
    runSnaptapeOk(['pool', 'create', '01', '--role', 'target', ...cat()]);
    const badName = runSnaptape(['pool', 'create', 'A', '--role', 'target', ...cat()]);
    expect(badName.stderr).toBe('snaptape: Cannot create target pool "A": target pools are named 01, 02, ...\n');
    runSnaptapeOk(['pool', 'add', 'SRC', s1, ...cat()]);
    runSnaptapeOk(['pool', 'add', '01', small, '--technology', 'tape', ...cat()]);

    // No target qualifies: the create fails, and the notification is in `version ls` and the log.
    const log = join(dir.path, 'create.log');
    const failed = runSnaptape(['version', 'create', '--source', 'SRC', '--pool', '01', '--log-file', log, ...cat()]);
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toMatch(
      /^snaptape: Cannot pair .*s1\.ckd in target pool 01: no volume qualifies \(.*small\.img: size: 100 blocks, the tape of the source may take/,
    );
    const afterFailure = runSnaptapeJson<{ versions: unknown[]; notifications: { failedChecks: string[]; message: string }[] }>(['version', 'ls', ...cat()]);
    expect(afterFailure.versions).toEqual([]);
    expect(afterFailure.notifications.map((n) => n.failedChecks)).toEqual([['size']]);
    expect(runSnaptapeOk(['version', 'ls', ...cat()])).toContain('notification ');
    const logged = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; failedChecks: string[] });
    expect(logged.map((l) => [l.event, l.failedChecks])).toEqual([['version.notification', ['size']]]);

    // A compatible target joins; a PPR is made ahead of the window, then the version uses it.
    runSnaptapeOk(['pool', 'add', '01', t1, '--technology', 'tape', ...cat()]);
    const ppr = runSnaptapeJson<{ kind: string; pairs: { sourcePath: string; targetPath: string }[] }>([
      'version',
      'prepair',
      '1',
      '--source',
      'SRC',
      '--pool',
      '01',
      ...cat(),
    ]);
    expect(ppr).toMatchObject({ kind: 'PPR', pairs: [{ sourcePath: s1, targetPath: t1 }] });
    const created = runSnaptapeJson<{ version: number; basis: string; comparison: { equal: boolean } }>([
      'version',
      'create',
      '--source',
      'SRC',
      '--pool',
      '01',
      ...cat(),
    ]);
    expect(created).toMatchObject({ version: 1, basis: 'PPR', comparison: { equal: true } });
    const shown = runSnaptapeJson<{ state: string; records: { kind: string }[]; storageMedia: { copyPath: string }[]; backupDatasets: { dataset: string }[] }>([
      'version',
      'show',
      '1',
      ...cat(),
    ]);
    expect(shown.state).toBe('complete');
    expect(shown.records.map((r) => r.kind)).toEqual(['RR']);
    expect(shown.storageMedia.map((m) => m.copyPath)).toEqual([t1]);
    // `version show` names where each copy lives: the tape pair's tape is on its target volume.
    expect(runSnaptapeOk(['version', 'show', '1', ...cat()])).toContain(`${s1} -> tape ${t1} at `);
    expect(shown.backupDatasets.map((d) => d.dataset)).toContain('PROD.PAYROLL.DATA');

    // Restore one data set from the version into a new volume, and the whole source volume.
    const dsTarget = join(dir.path, 'ds.ckd');
    const said = runSnaptapeOk(['version', 'restore', '1', 'PROD.PAYROLL.DATA', '--to', dsTarget, '--new-volume', ...cat()]);
    // It names the data set it restored, not the whole-volume element it came from (issue 18.8).
    expect(said).toMatch(/^restored PROD\.PAYROLL\.DATA /);
    const read = (path: string): Buffer => {
      const volume = openVolume(path, { readOnly: true });
      try {
        return getDataset(volume, 'PROD.PAYROLL.DATA');
      } finally {
        volume.close();
      }
    };
    expect(read(dsTarget).equals(read(s1))).toBe(true);
    const restoredNames = (() => {
      const volume = openVolume(dsTarget, { readOnly: true });
      try {
        return describeVolume(volume).datasets.map((d) => d.name);
      } finally {
        volume.close();
      }
    })();
    expect(restoredNames).toEqual(['PROD.PAYROLL.DATA']);
    const whole = join(dir.path, 'whole.ckd');
    runSnaptapeOk(['version', 'restore', '1', '--volume', s1, '--to', whole, ...cat()]);
    expect(compareImages(s1, whole).mismatched).toBe(0);

    // $SNAPTAPE_CATALOG names the catalog when --catalog does not; `pool ls --json` lists the inventory.
    const viaEnv = spawnSync(process.execPath, [SNAPTAPE_BIN, 'pool', 'ls', '--json'], {
      cwd: dir.path,
      encoding: 'utf8',
      env: { ...process.env, SNAPTAPE_CATALOG: db },
    });
    expect(viaEnv.status).toBe(0);
    const listed = JSON.parse(viaEnv.stdout) as { pools: { name: string; members: string[] }[]; volumes: { path: string; reservedFor: string | null }[] };
    expect(listed.pools).toEqual([
      { name: '01', role: 'target', members: [small, t1] },
      { name: 'SRC', role: 'source', members: [s1] },
    ]);
    expect(listed.volumes.find((v) => v.path === t1)?.reservedFor).toBe(s1);
    // A reserved target may leave its pool (issue 21): it is freed at once.
    runSnaptapeOk(['pool', 'remove', '01', t1, ...cat()]);
    const afterLeave = runSnaptapeJson<{ volumes: { path: string; reservedFor: string | null }[] }>(['pool', 'ls', ...cat()]);
    expect(afterLeave.volumes.find((v) => v.path === t1)?.reservedFor).toBeNull();
    runSnaptapeOk(['pool', 'remove', 'SRC', s1, ...cat()]);
    // About twenty CLI processes, each a node start: 40 s alone, more on a loaded CI machine.
  }, 120_000);
});
