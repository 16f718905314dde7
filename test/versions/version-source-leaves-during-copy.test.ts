/**
 * Layers: technique (versions). A source may leave its pool while a version copies it: the copy is
 * of the version's instant, and the version completes with it. The pre-pairing record that the
 * version is being made from is no longer pending (its pairs are the version's copy record now), so
 * the leave must not edit it: it would report the pair dropped, and free the target while the copy
 * runs onto it, although the version then completes with that very pair.
 */
import { describe, expect, it } from 'vitest';
import { getVolume } from '../../src/catalog/catalog-inventory.js';
import { listNotifications } from '../../src/catalog/catalog-records.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { createVersion, prepairVersion } from '../../src/techniques/versions/version-create.js';
import { leavePool, type PprChange } from '../../src/techniques/versions/pool-membership.js';
import type { TempDir } from '../harness/temp-dir.js';
import { addVolumes, makeSource, makeTarget, twoPoolsEachTest } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
twoPoolsEachTest('snaptape-vsrcleave-', (made) => ({ dir, catalog } = made));

describe('a source leaving while the version made from its PPR copies it', () => {
  it('leaves that PPR alone: no pair reported dropped, the target stays reserved, the version holds the pair', async () => {
    const s1 = makeSource(dir.path, 's1', 81);
    const s2 = makeSource(dir.path, 's2', 82);
    const t1 = makeTarget(dir.path, 't1');
    const t2 = makeTarget(dir.path, 't2');
    addVolumes(catalog, 'SRC', [s1, s2]);
    addVolumes(catalog, '01', [t1, t2], 'clone');
    prepairVersion(catalog, { version: 1, sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    const notesBefore = listNotifications(catalog.db).length;
    let changes: PprChange[] = [];
    const result = await createVersion(catalog, {
      sourcePool: 'SRC',
      targetPool: '01',
      technology: 'clone',
      beforeComplete: () => {
        changes = leavePool(catalog, 'SRC', s1);
        return Promise.resolve();
      },
    });
    expect(result.basis).toBe('PPR');
    expect(result.rr.pairs.map((p) => [p.sourcePath, p.targetPath])).toEqual([
      [s1, t1],
      [s2, t2],
    ]);
    expect(changes).toEqual([]);
    expect(listNotifications(catalog.db).length).toBe(notesBefore);
    expect(getVolume(catalog.db, t1)?.reservedFor, 'the RR of version 1 holds s1 -> t1').toBe(s1);
  });
});
