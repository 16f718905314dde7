/**
 * Layers: technique (versions). `version restore --to PATH --new-volume --force` makes a new volume
 * at PATH and fills it from the version's copy. PATH must not be that copy (the target volume of a
 * clone pair, or the FBA volume a tape pair's tape is written on), by its name or a link: the new
 * volume would be made over the copy first, and the version's only copy would be gone.
 */
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Catalog } from '../../src/catalog/catalog.js';
import { UsageError } from '../../src/errors/snaptape-error.js';
import { createVersion } from '../../src/techniques/versions/version-create.js';
import { restoreFromVersion } from '../../src/techniques/versions/version-restore.js';
import { sha256File } from '../harness/dasd.js';
import type { TempDir } from '../harness/temp-dir.js';
import { addVolumes, makeSource, makeTapeTarget, makeTarget, twoPoolsEachTest } from './version-fixtures.js';

let dir: TempDir;
let catalog: Catalog;
twoPoolsEachTest('snaptape-vonto-', (made) => ({ dir, catalog } = made));

describe('a version restore into its own copy', () => {
  it('is refused for a clone copy, by name or through a link, and the copy is left as it was', async () => {
    const source = makeSource(dir.path, 's1', 61);
    const target = makeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'clone');
    const { version } = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'clone' });
    const before = sha256File(target);
    const link = join(dir.path, 'copy-link.img');
    symlinkSync(target, link);
    for (const to of [target, link]) {
      const restore = restoreFromVersion(catalog, { version, sourcePath: source, to, newVolume: true, force: true });
      await expect(restore).rejects.toThrow(UsageError);
      await expect(restore).rejects.toThrow(/is the copy/);
      expect(sha256File(target), `restore --to ${to}`).toBe(before);
    }
  });

  it('is refused for a tape copy on an FBA volume, and the copy is left as it was', async () => {
    const source = makeSource(dir.path, 's1', 62);
    const target = makeTapeTarget(dir.path, 't1');
    addVolumes(catalog, 'SRC', [source]);
    addVolumes(catalog, '01', [target], 'tape');
    const { version } = await createVersion(catalog, { sourcePool: 'SRC', targetPool: '01', technology: 'tape' });
    const before = sha256File(target);
    const restore = restoreFromVersion(catalog, { version, sourcePath: source, to: target, newVolume: true, force: true });
    await expect(restore).rejects.toThrow(/is the copy/);
    expect(sha256File(target)).toBe(before);
  });
});
