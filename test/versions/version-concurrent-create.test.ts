/**
 * Layers: technique (versions). Two `version create` into one target pool at once (two operators):
 * the second would pair the same sources with the same targets (a target reserved for its own
 * source is free to it), copy onto them once the first copy let go of their locks, and could
 * complete first; the first then completes too, and the catalog holds two complete versions on
 * one set of targets, the older one restoring the newer one's data. A version is therefore not
 * begun while another version of its target pool is being created.
 */
import { describe, expect, it } from 'vitest';
import { listVersions } from '../../src/catalog/catalog-records.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { UsageError } from '../../src/errors/snaptape-error.js';
import { createVersion } from '../../src/techniques/versions/version-create.js';
import type { TempDir } from '../harness/temp-dir.js';
import { addVolumes, makeSource, makeTarget, twoPoolsEachTest } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
twoPoolsEachTest('snaptape-vconc-', (made) => ({ dir, catalog } = made));

describe('a second version create into a pool whose version is being created', () => {
  it('is refused, naming the version being created; the first completes alone', async () => {
    const source = makeSource(dir.path, 's1', 91);
    const target = makeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'clone');
    let second: unknown = 'not tried';
    await createVersion(catalog, {
      sourcePool: 'SRC',
      targetPool: '01',
      technology: 'clone',
      beforeComplete: async () => {
        try {
          second = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
        } catch (error) {
          second = error;
        }
      },
    });
    expect(second).toBeInstanceOf(UsageError);
    expect(String(second)).toMatch(/version 1 is being created into pool 01/);
    expect(listVersions(catalog.db).map((v) => [v.version, v.state])).toEqual([[1, 'complete']]);
  });
});
