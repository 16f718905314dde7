/**
 * The other two copy technologies a version drives (issue 9, Build 4, "Run the copies with each
 * pair's technology"): clone onto a CKD image, and instant snapshot between mapped volumes of one
 * subsystem. Neither writes a tape, so neither has storage media rows; the target is the copy.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { describeVolume, openVolume } from '../../src/api/volume-api.js';
import { listStorageMedia, listVersions } from '../../src/catalog/catalog-records.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { createMappedVolume } from '../../src/volume/mapped-volume.js';
import { createVersion } from '../../src/techniques/versions/version-create.js';
import { makeSubsystem } from '../snapshot/helpers/subsystem-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { addVolumes, makePool, makeSource, makeTarget, openTestCatalog } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
beforeEach(() => {
  dir = makeTempDir('snaptape-vtech-');
  catalog = openTestCatalog(dir.path);
  makePool(catalog, 'SRC', 'source');
  makePool(catalog, '01', 'target');
});
afterEach(() => {
  catalog.close();
  dir.cleanup();
});

describe('version technologies', () => {
  it('clones each source onto its target', async () => {
    const source = makeSource(dir.path, 's1', 31);
    const target = makeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'clone');
    const result = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    expect(result.rr.pairs).toEqual([{ sourcePath: source, targetPath: target, technology: 'clone' }]);
    expect(compareImages(source, target).mismatched).toBe(0);
    expect(listStorageMedia(catalog.db, result.version)).toEqual([]);
    expect(listVersions(catalog.db).map((v) => v.state)).toEqual(['complete']);
  });

  it('snapshots each mapped source onto its mapped target, keeping the target volser', async () => {
    const { sub, source } = makeSubsystem(dir.path, { seed: 5 });
    const target = join(sub, 'TGT');
    createMappedVolume(target, { type: '3390', cylinders: 2, volser: 'TGT001', vtocTracks: 1 }).close();
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'snapshot');
    const result = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'snapshot' });
    expect(result.rr.pairs).toEqual([{ sourcePath: source, targetPath: target, technology: 'snapshot' }]);
    // Every track but track 0 (VOL1, which carries the target's own volser) equals the source's.
    expect(compareImages(source, target)).toMatchObject({ mismatched: 1, firstMismatch: 0 });
    const volume = openVolume(target, { readOnly: true });
    try {
      expect(describeVolume(volume).volser).toBe('TGT001');
    } finally {
      volume.close();
    }
  });
});
