/**
 * Layers: technique (versions). A copy version writes every pair's target: no target may be the
 * same file as a source, or as another pair's target, whatever names the catalog gives them. A
 * symbolic link or a hard link in a target pool, or a catalog edited by hand so that one path is in
 * a source and a target pool, must not yield a "complete" version that holds no copy (a source
 * cloned onto itself) or one copy where two are recorded (two sources cloned onto one file).
 */
import { linkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { listVersions } from '../../src/catalog/catalog-records.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { SessionError } from '../../src/errors/snaptape-error.js';
import { createVersion } from '../../src/techniques/versions/version-create.js';
import { sha256File } from '../harness/dasd.js';
import type { TempDir } from '../harness/temp-dir.js';
import { addVolumes, makeSource, makeTarget, twoPoolsEachTest } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
twoPoolsEachTest('snaptape-vsame-', (made) => ({ dir, catalog } = made));

describe('a target that is the same file as a source', () => {
  it('through a symbolic link: no target qualifies, no version is made', async () => {
    const source = makeSource(dir.path, 's1', 41);
    const link = join(dir.path, 'link-to-s1.img');
    symlinkSync(source, link);
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [link], 'clone');
    const before = sha256File(source);
    const create = createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    await expect(create).rejects.toThrow(SessionError);
    await expect(create).rejects.toThrow(/same file as .*s1\.ckd/);
    expect(listVersions(catalog.db)).toEqual([]);
    expect(sha256File(source)).toBe(before);
  });

  it('by its own path, entered in a target pool by hand: no version is made', async () => {
    const source = makeSource(dir.path, 's1', 42);
    addVolumes(catalog, 'SRC', [source]);
    // What insertMember refuses, a hand-edited catalog holds.
    catalog.db.prepare("UPDATE volumes SET technology = 'clone' WHERE path = ?").run(source);
    catalog.db.prepare("INSERT INTO pool_members (pool, volume_path) VALUES ('01', ?)").run(source);
    const create = createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    await expect(create).rejects.toThrow(/same file as source .*s1\.ckd/);
    expect(listVersions(catalog.db)).toEqual([]);
  });
});

describe('two targets that are one file (a hard link)', () => {
  it('take one source only: the other source goes to a distinct target, and each copy equals its source', async () => {
    const s1 = makeSource(dir.path, 's1', 43);
    const s2 = makeSource(dir.path, 's2', 44);
    const t1 = makeTarget(dir.path, 't1');
    const t1Link = join(dir.path, 't1-hard.img');
    linkSync(t1, t1Link);
    const t2 = makeTarget(dir.path, 't2');
    addVolumes(catalog, 'SRC', [s1, s2]);
    addVolumes(catalog, '01', [t1, t1Link, t2], 'clone');
    const result = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    const targetOf = new Map(result.rr.pairs.map((p) => [p.sourcePath, p.targetPath]));
    const targets = [targetOf.get(s1), targetOf.get(s2)];
    expect(targets).toContain(t2);
    for (const [source, target] of targetOf) expect(compareImages(source, target).mismatched, `${target} holds ${source}`).toBe(0);
  });
});
