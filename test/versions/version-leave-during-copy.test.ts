/**
 * Layers: technique (versions). A target may leave its pool at any time except while a version is
 * being copied onto it: a copy that runs on after its target left writes a volume the pool no
 * longer owns (another pool may take it meanwhile), and the version would then record a copy on a
 * volume nobody reserves. That holds for a target the version newly paired, and as much for one it
 * kept from the previous version's RR (whose reservation is older than this version).
 */
import { describe, expect, it } from 'vitest';
import { getVolume, listPools } from '../../src/catalog/catalog-inventory.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { UsageError } from '../../src/errors/snaptape-error.js';
import { createVersion } from '../../src/techniques/versions/version-create.js';
import { leavePool } from '../../src/techniques/versions/pool-membership.js';
import type { TempDir } from '../harness/temp-dir.js';
import { addVolumes, makeSource, makeTarget, twoPoolsEachTest } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
twoPoolsEachTest('snaptape-vleave-', (made) => ({ dir, catalog } = made));

/** Runs a version of pool 01 that tries to remove `target` from it while its copies are done but not committed. */
async function versionTryingToRemove(target: string): Promise<unknown> {
  let refusal: unknown = 'not refused';
  await createVersion(catalog, {
    sourcePool: 'SRC',
    targetPool: '01',
    technology: 'clone',
    beforeComplete: () => {
      try {
        leavePool(catalog, '01', target);
      } catch (error) {
        refusal = error;
      }
      return Promise.resolve();
    },
  });
  return refusal;
}

describe('a target leaving its pool while a version copies onto it', () => {
  it('is refused for a target the version newly paired', async () => {
    const source = makeSource(dir.path, 's1', 51);
    const target = makeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'clone');
    const refusal = await versionTryingToRemove(target);
    expect(refusal).toBeInstanceOf(UsageError);
    expect(String(refusal)).toMatch(/version 1 is being created onto it/);
  });

  it('is refused for a target the version kept from the previous version (RR), which stays reserved', async () => {
    const source = makeSource(dir.path, 's1', 52);
    const target = makeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'clone');
    await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    const refusal = await versionTryingToRemove(target);
    expect(refusal).toBeInstanceOf(UsageError);
    expect(String(refusal)).toMatch(/version 2 is being created onto it/);
    expect(listPools(catalog.db).find((p) => p.name === '01')?.members).toEqual([target]);
    expect(getVolume(catalog.db, target)?.reservedFor).toBe(source);
  });
});
