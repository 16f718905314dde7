/**
 * Target selection rejects each kind of incompatibility in its own test (issue 9, Acceptance), and
 * each rejection leaves a notification in the catalog, shown by `version ls`, and a log event.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listNotifications, listVersions } from '../../src/catalog/catalog-records.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import type { Technology } from '../../src/catalog/catalog-inventory.js';
import type { LogEvent } from '../../src/base/log.js';
import { SessionError } from '../../src/errors/snaptape-error.js';
import { createVersion } from '../../src/techniques/versions/version-create.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { addVolumes, makePool, makeSource, makeTapeTarget, makeTarget, openTestCatalog } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;

beforeEach(() => {
  dir = makeTempDir('snaptape-select-');
  catalog = openTestCatalog(dir.path);
  makePool(catalog, 'SRC', 'source');
  makePool(catalog, '01', 'target');
  addVolumes(catalog, 'SRC', [makeSource(dir.path, 's1', 1)]);
});
afterEach(() => {
  catalog.close();
  dir.cleanup();
});

async function expectRejected(check: string, options: { technology?: Technology } = {}): Promise<void> {
  const logged: { event: LogEvent; fields: Readonly<Record<string, unknown>> }[] = [];
  const attempt = createVersion(catalog, {
    sourcePool: 'SRC',
    targetPool: '01',
    technology: options.technology,
    log: (event, fields) => logged.push({ event, fields }),
  });
  await expect(attempt).rejects.toThrow(SessionError);
  await expect(attempt).rejects.toThrow(/^Cannot pair .*s1\.ckd in target pool 01: no volume qualifies/);
  const notifications = listNotifications(catalog.db);
  expect(notifications).toHaveLength(1);
  expect(notifications[0]?.failedChecks).toEqual([check]);
  expect(notifications[0]?.message).toContain(`${check}: `);
  expect(logged.map((l) => l.event)).toEqual(['version.notification']);
  expect(logged[0]?.fields['failedChecks']).toEqual([check]);
  // The failed create leaves no version and reserves nothing.
  expect(listVersions(catalog.db)).toEqual([]);
  expect(catalog.db.prepare('SELECT COUNT(*) AS n FROM volumes WHERE reserved_for IS NOT NULL').get()).toEqual({ n: 0 });
}

describe('target selection', () => {
  // A clone target is a disk like its source: type, geometry and size compare the two volumes.
  it('rejects a clone target of another type (FBA for a CKD source)', async () => {
    addVolumes(catalog, '01', [makeTarget(dir.path, 'fba', { type: 'fba', blocks: 200_000 })], 'clone');
    await expectRejected('type', { technology: 'clone' });
  });

  it('rejects a clone target of another geometry (3380 for a 3390 source)', async () => {
    addVolumes(catalog, '01', [makeTarget(dir.path, 'g3380', { type: '3380', cylinders: 4 })], 'clone');
    await expectRejected('geometry', { technology: 'clone' });
  });

  it('rejects a clone target that is too small', async () => {
    addVolumes(catalog, '01', [makeTarget(dir.path, 'small', { cylinders: 1 })], 'clone');
    await expectRejected('size', { technology: 'clone' });
  });

  // A tape target is the FBA volume the tape is written onto (issue 21).
  it('rejects a CKD target for a tape pair', async () => {
    addVolumes(catalog, '01', [makeTarget(dir.path, 'ckd')], 'tape');
    await expectRejected('type');
  });

  it('rejects an FBA tape target without room for the tape', async () => {
    addVolumes(catalog, '01', [makeTapeTarget(dir.path, 'small', 100)], 'tape');
    await expectRejected('size');
  });

  it('rejects a target of another copy technology', async () => {
    addVolumes(catalog, '01', [makeTapeTarget(dir.path, 'clone')], 'clone');
    await expectRejected('technology');
  });

  it('rejects a target reserved for another pair', async () => {
    const target = makeTapeTarget(dir.path, 'taken');
    addVolumes(catalog, '01', [target], 'tape');
    catalog.write((db) => db.prepare('UPDATE volumes SET reserved_for = ? WHERE path = ?').run('/elsewhere/other.ckd', target));
    const logged: string[] = [];
    await expect(createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', log: (e) => logged.push(e) })).rejects.toThrow(
      /reserved: reserved for \/elsewhere\/other\.ckd/,
    );
    expect(listNotifications(catalog.db).map((n) => n.failedChecks)).toEqual([['reserved']]);
    expect(logged).toEqual(['version.notification']);
    expect(listVersions(catalog.db)).toEqual([]);
  });

  it('pairs with a compatible target once one joins the pool', async () => {
    addVolumes(catalog, '01', [makeTapeTarget(dir.path, 'small', 100), makeTapeTarget(dir.path, 'ok')], 'tape');
    const result = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01' });
    expect(result.rr.pairs.map((p) => p.targetPath)).toEqual([`${dir.path}/ok.img`]);
  });
});
