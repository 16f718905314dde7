/**
 * Sources and targets that change between versions (issue 21, Build 4): a broken pair frees its
 * target for the other sources of the same version, a reserved target may leave its pool, each
 * volume's facts are read again at target selection, and pre-pairing records follow joins and
 * leaves.
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getVolume } from '../../src/catalog/catalog-inventory.js';
import { listNotifications, listRecords, type CopyPair } from '../../src/catalog/catalog-records.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { volumeFacts } from '../../src/techniques/versions/volume-facts.js';
import { createVersion, prepairVersion, unprepairVersion } from '../../src/techniques/versions/version-create.js';
import { joinPool, leavePool } from '../../src/techniques/versions/pool-membership.js';
import type { TempDir } from '../harness/temp-dir.js';
import { TAPE_TARGET_BLOCKS, addVolumes, makeSource, makeTapeTarget, twoPoolsEachTest } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
twoPoolsEachTest('snaptape-vpool-', (made) => ({ dir, catalog } = made));

const tape = (sourcePath: string, targetPath: string): CopyPair => ({ sourcePath, targetPath, technology: 'tape' });
const reservedFor = (path: string): string | null | undefined => getVolume(catalog.db, path)?.reservedFor;

describe('sources and targets that change between versions', () => {
  it('frees a broken pair target for a new source of the same version (no spare target)', async () => {
    const [a, b] = [makeSource(dir.path, 'a', 1), makeSource(dir.path, 'b', 2)];
    const [d, e] = [makeTapeTarget(dir.path, 'd'), makeTapeTarget(dir.path, 'e')];
    addVolumes(catalog, 'SRC', [a, b]);
    addVolumes(catalog, '01', [d, e], 'tape');
    await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01' });
    leavePool(catalog, 'SRC', b);
    const c = makeSource(dir.path, 'c', 3);
    addVolumes(catalog, 'SRC', [c]);
    const v2 = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01' });
    expect(v2.dropped).toEqual([tape(b, e)]);
    expect(v2.added).toEqual([tape(c, e)]);
    expect(v2.rr.pairs).toEqual([tape(a, d), tape(c, e)]);
    expect([reservedFor(d), reservedFor(e)]).toEqual([a, c]);
  });

  it('lets a reserved target leave its pool; the next version re-pairs its source', async () => {
    const a = makeSource(dir.path, 'a', 1);
    const [d, e] = [makeTapeTarget(dir.path, 'd'), makeTapeTarget(dir.path, 'e')];
    addVolumes(catalog, 'SRC', [a]);
    addVolumes(catalog, '01', [d, e], 'tape');
    await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01' });
    expect(reservedFor(d)).toBe(a);
    leavePool(catalog, '01', d);
    expect(reservedFor(d)).toBeNull();
    const v2 = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01' });
    expect(v2.dropped).toEqual([tape(a, d)]);
    expect(v2.added).toEqual([tape(a, e)]);
    expect(v2.rr.pairs).toEqual([tape(a, e)]);
  });

  it('reads each volume again at target selection: a target grown, shrunk or gone', async () => {
    const a = makeSource(dir.path, 'a', 1);
    const small = makeTapeTarget(dir.path, 'small', 100);
    addVolumes(catalog, 'SRC', [a]);
    addVolumes(catalog, '01', [small], 'tape');
    // The image is replaced by a big enough one after `pool add`: the catalog's fact is stale.
    rmSync(small);
    makeTapeTarget(dir.path, 'small');
    const v1 = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01' });
    expect(v1.rr.pairs).toEqual([tape(a, small)]);
    expect(getVolume(catalog.db, small)?.units).toBe(TAPE_TARGET_BLOCKS);
    // Now the paired target is gone: it is no longer available, so the version fails with a
    // notification that names the check.
    rmSync(small);
    await expect(createVersion(catalog, { sourcePool: 'SRC', targetPool: '01' })).rejects.toThrow(/available: /);
    expect(listNotifications(catalog.db).at(-1)?.failedChecks).toEqual(['available']);
  });

  it('updates a pre-pairing record when sources join and leave, and drops it on request', async () => {
    const [a, b] = [makeSource(dir.path, 'a', 1), makeSource(dir.path, 'b', 2)];
    const [d, e, f] = [makeTapeTarget(dir.path, 'd'), makeTapeTarget(dir.path, 'e'), makeTapeTarget(dir.path, 'f')];
    addVolumes(catalog, 'SRC', [a, b]);
    addVolumes(catalog, '01', [d, e], 'tape');
    prepairVersion(catalog, { version: 1, sourcePool: 'SRC', targetPool: '01' });
    const ppr = (): readonly CopyPair[] | undefined => listRecords(catalog.db).find((r) => r.kind === 'PPR')?.pairs;
    expect(ppr()).toEqual([tape(a, d), tape(b, e)]);
    // b leaves: its pair is dropped from the PPR with a notification, and e is free again.
    leavePool(catalog, 'SRC', b);
    expect(ppr()).toEqual([tape(a, d)]);
    expect(reservedFor(e)).toBeNull();
    expect(listNotifications(catalog.db).at(-1)?.message).toMatch(/PPR 1: .*b\.ckd left pool SRC: pair .*b\.ckd -> .*e\.img dropped/);
    // c joins: the PPR pairs it by target selection (e is free again).
    const c = makeSource(dir.path, 'c', 3);
    joinPool(catalog, 'SRC', volumeFacts(c), null);
    expect(ppr()).toEqual([tape(a, d), tape(c, e)]);
    expect(reservedFor(e)).toBe(c);
    // d leaves the target pool with no spare target: a's pair is dropped with a notification.
    leavePool(catalog, '01', d);
    expect(ppr()).toEqual([tape(c, e)]);
    expect(listNotifications(catalog.db).at(-1)?.message).toMatch(/PPR 1: .*d\.img left pool 01: pair .*a\.ckd -> .*d\.img dropped/);
    // f joins the target pool: the PPR pairs a with it.
    joinPool(catalog, '01', volumeFacts(f), 'tape');
    expect(ppr()).toEqual([tape(a, f), tape(c, e)]);
    expect(reservedFor(f)).toBe(a);
    // Dropping the PPR frees the targets it reserved.
    unprepairVersion(catalog, 1);
    expect(ppr()).toBeUndefined();
    expect([reservedFor(e), reservedFor(f)]).toEqual([null, null]);
    // The version is made afresh and pairs every source.
    const v1 = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01' });
    expect(v1.basis).toBe('fresh');
    expect(v1.rr.pairs).toEqual([tape(a, e), tape(c, f)]);
  });
});
