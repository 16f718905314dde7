/**
 * The other two copy technologies a version drives (issue 9, Build 4, "Run the copies with each
 * pair's technology"): clone onto a CKD image, and instant snapshot between mapped volumes of one
 * subsystem. Neither writes a tape: the storage media inventory names the target volume as the copy,
 * and `version restore` reads a data set back from it (issue 21).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { describeVolume, openVolume, withVolume } from '../../src/api/volume-api.js';
import { allocateDataset } from '../../src/vtoc/dataset-allocator.js';
import { parseRecfm } from '../../src/vtoc/dataset-attributes.js';
import { getDataset, putDataset } from '../../src/vtoc/dataset-io.js';
import { restoreFromVersion } from '../../src/techniques/versions/version-restore.js';
import { UsageError } from '../../src/errors/snaptape-error.js';
import { listStorageMedia, listVersions } from '../../src/catalog/catalog-records.js';
import type { Catalog } from '../../src/catalog/catalog.js';
import { createMappedVolume } from '../../src/volume/mapped-volume.js';
import { createVersion } from '../../src/techniques/versions/version-create.js';
import { makeSubsystem } from '../snapshot/helpers/subsystem-fixtures.js';
import type { TempDir } from '../harness/temp-dir.js';
import { addVolumes, makeSource, makeTarget, twoPoolsEachTest } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
twoPoolsEachTest('snaptape-vtech-', (made) => ({ dir, catalog } = made));

describe('version technologies', () => {
  it('clones each source onto its target', async () => {
    const source = makeSource(dir.path, 's1', 31);
    const target = makeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'clone');
    const result = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    expect(result.rr.pairs).toEqual([{ sourcePath: source, targetPath: target, technology: 'clone' }]);
    expect(compareImages(source, target).mismatched).toBe(0);
    expect(listStorageMedia(catalog.db, result.version)).toEqual([
      { version: 1, sourcePath: source, targetPath: target, technology: 'clone', copyPath: target, tapeStartBlock: null, instant: result.instant },
    ]);
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

  it('restores a data set from a clone version as it was at the version instant', async () => {
    const source = makeSource(dir.path, 's1', 32);
    const target = makeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'clone');
    const atVersion = readData(source);
    await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    rewriteData(source);
    expect(readData(source).equals(atVersion)).toBe(false);
    const to = join(dir.path, 'restored.ckd');
    const result = await restoreFromVersion(catalog, { version: 1, dataset: DATASET, to });
    expect(result).toMatchObject({ technology: 'clone', copyPath: target, restored: [DATASET] });
    expect(readData(to).equals(atVersion)).toBe(true);
    expect(datasetNames(to)).toEqual([DATASET]);
  });

  it('restores a data set from a snapshot version as it was at the version instant', async () => {
    const { sub, source } = makeSubsystem(dir.path, { seed: 6 });
    withVolume(source, {}, (volume) => {
      allocateDataset(volume, { name: DATASET, tracks: 2, dsorg: 'PS', recfm: parseRecfm('FB'), recordLength: 80, blockSize: 800 });
      putDataset(volume, DATASET, Buffer.alloc(1600, 0xc1));
      volume.sync();
    });
    const target = join(sub, 'TGT');
    createMappedVolume(target, { type: '3390', cylinders: 2, volser: 'TGT001', vtocTracks: 1 }).close();
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'snapshot');
    const atVersion = readData(source);
    await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'snapshot' });
    rewriteData(source);
    expect(readData(source).equals(atVersion)).toBe(false);
    const to = join(dir.path, 'restored.ckd');
    const result = await restoreFromVersion(catalog, { version: 1, dataset: DATASET, to });
    expect(result).toMatchObject({ technology: 'snapshot', copyPath: target, restored: [DATASET] });
    expect(readData(to).equals(atVersion)).toBe(true);
  });

  it('refuses to restore a clone version that a later version replaced', async () => {
    const source = makeSource(dir.path, 's1', 33);
    const target = makeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'clone');
    await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    const attempt = restoreFromVersion(catalog, { version: 1, dataset: DATASET, to: join(dir.path, 'old.ckd') });
    await expect(attempt).rejects.toThrow(UsageError);
    await expect(attempt).rejects.toThrow(/version 1: it was replaced, and its clone target .*t1\.img now holds a later version of pool 01/);
  });
});

const DATASET = 'PROD.PAYROLL.DATA';

function readData(path: string): Buffer {
  return withVolume(path, { readOnly: true }, (volume) => getDataset(volume, DATASET));
}

/** Host writes after the version: the data set gets other content. */
function rewriteData(path: string): void {
  withVolume(path, {}, (volume) => {
    putDataset(volume, DATASET, Buffer.alloc(800, 0xe7));
    volume.sync();
  });
}

function datasetNames(path: string): string[] {
  return withVolume(path, { readOnly: true }, (volume) => describeVolume(volume).datasets.map((d) => d.name));
}
