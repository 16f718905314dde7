/**
 * Layers: technique (versions). A target volume that another process holds (its `<image>.lock` is
 * live: a `serve` exports it, a backup writes it) cannot take a copy now: target selection counts
 * it unavailable, naming the holder, and takes the next target that qualifies. When every target
 * is held, the version is not begun: the notification names each one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { listNotifications, listVersions } from '../../src/catalog/catalog-records.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { SessionError } from '../../src/errors/snaptape-error.js';
import { lockImage, type ImageLock } from '../../src/image/image-lock.js';
import { createVersion } from '../../src/techniques/versions/version-create.js';
import type { TempDir } from '../harness/temp-dir.js';
import { addVolumes, makeSource, makeTarget, twoPoolsEachTest } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
const locks: ImageLock[] = [];
twoPoolsEachTest('snaptape-vlocked-', (made) => ({ dir, catalog } = made));
// Registered after the pools' hooks, so it runs before their cleanup.
afterEach(() => locks.splice(0).forEach((l) => l.release()));

describe('a target held by another process', () => {
  it('is passed over for the next target that qualifies', async () => {
    const source = makeSource(dir.path, 's1', 71);
    const held = makeTarget(dir.path, 't1');
    const free = makeTarget(dir.path, 't2');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [held, free], 'clone');
    locks.push(lockImage(held));
    const result = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    expect(result.rr.pairs.map((p) => p.targetPath)).toEqual([free]);
    expect(compareImages(source, free).mismatched).toBe(0);
  });

  it('when every target is held, no version is begun and the notification names the holder', async () => {
    const source = makeSource(dir.path, 's1', 72);
    const held = makeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [held], 'clone');
    locks.push(lockImage(held));
    const create = createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    await expect(create).rejects.toThrow(SessionError);
    await expect(create).rejects.toThrow(new RegExp(`available: .*locked by process ${process.pid}`));
    expect(listVersions(catalog.db)).toEqual([]);
    expect(listNotifications(catalog.db).at(-1)?.failedChecks).toEqual(['available']);
  });
});
