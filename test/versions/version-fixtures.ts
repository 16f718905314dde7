/**
 * Fixtures for the copy-version tests: a catalog in a temp dir, small filled source volumes and
 * empty target volumes, entered into pools through the same code the CLI uses.
 */
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { createPool, type Technology } from '../../src/catalog/catalog-inventory.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { joinPool } from '../../src/techniques/versions/pool-membership.js';
import { volumeFacts } from '../../src/techniques/versions/volume-facts.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

export const SOURCE_CYLINDERS = 2;

export function openTestCatalog(dir: string): Catalog {
  return Catalog.open(join(dir, 'snaptape.db'));
}

/** A filled 3390 source volume, closed, its path returned. */
export function makeSource(dir: string, name: string, seed: number): string {
  const volume = makeFilledVolume(dir, { cylinders: SOURCE_CYLINDERS, seed, name: `${name}.ckd`, percent: 40 });
  const path = volume.path;
  volume.close();
  return path;
}

/** An empty target volume of the given type and size, closed, its path returned. */
export function makeTarget(dir: string, name: string, options: { type?: string; cylinders?: number; blocks?: number } = {}): string {
  const type = options.type ?? '3390';
  const volume = createVolume(join(dir, `${name}.img`), {
    type,
    volser: 'TGT001',
    cylinders: type === 'fba' ? undefined : (options.cylinders ?? SOURCE_CYLINDERS),
    blocks: options.blocks,
  });
  const path = volume.path;
  volume.close();
  return path;
}

/** Blocks of an FBA tape target: room for the whole-volume tape of a source (tapeBytesBound). */
export const TAPE_TARGET_BLOCKS = 4000;

/** An empty FBA volume that takes the tape of a source, closed, its path returned. */
export function makeTapeTarget(dir: string, name: string, blocks = TAPE_TARGET_BLOCKS): string {
  return makeTarget(dir, name, { type: 'fba', blocks });
}

export function addVolumes(catalog: Catalog, pool: string, paths: readonly string[], technology: Technology | null = null): void {
  for (const path of paths) joinPool(catalog, pool, volumeFacts(path), technology);
}

export function makePool(catalog: Catalog, name: string, role: 'source' | 'target'): void {
  createPool(catalog, name, role);
}

/**
 * Before each test, a fresh temp dir and catalog with a source pool SRC and a target pool 01,
 * handed to `use`; after it, the catalog closed and the dir removed.
 */
export function twoPoolsEachTest(prefix: string, use: (made: { dir: TempDir; catalog: Catalog }) => void): void {
  let made: { dir: TempDir; catalog: Catalog } | undefined;
  beforeEach(() => {
    const dir = makeTempDir(prefix);
    const catalog = openTestCatalog(dir.path);
    makePool(catalog, 'SRC', 'source');
    makePool(catalog, '01', 'target');
    made = { dir, catalog };
    use(made);
  });
  afterEach(() => {
    made?.catalog.close();
    made?.dir.cleanup();
    made = undefined;
  });
}
