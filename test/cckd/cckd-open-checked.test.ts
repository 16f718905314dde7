/**
 * Layer: unit, hostile local user. A CCKD image opened for writing is checked on a read-only
 * descriptor (a damaged file is never written), then opened again by its name for writing. Whoever
 * can write the folder may rename another image over the name in between: the writer must refuse
 * it (a typed error naming the image), not write a file that was never checked, nor one that is
 * not the image asked for.
 */
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { IoError } from '../../src/errors/snaptape-error.js';
import { convertImage } from '../../src/image/image-convert.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** What the hostile user does once the image has been checked: set per test. */
const afterCheck = { plant: (): void => undefined };

vi.mock('../../src/image/cckd-analysis.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/image/cckd-analysis.js')>();
  return {
    ...actual,
    analyseCckd: vi.fn((...args: Parameters<typeof actual.analyseCckd>) => {
      const analysis = actual.analyseCckd(...args);
      afterCheck.plant();
      afterCheck.plant = () => undefined;
      return analysis;
    }),
  };
});

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir('snaptape-cckd-open-checked-');
});
afterEach(() => dir.cleanup());

/** A CCKD image of a filled volume at `name`. */
function cckdImage(name: string, seed: number): string {
  const source = makeFilledVolume(dir.path, { cylinders: 1, seed, name: `${name}.src.ckd` });
  source.close();
  const path = join(dir.path, name);
  convertImage(source.path, path, { format: 'cckd' });
  return path;
}

describe('a CCKD image is written only as the file its open checked', () => {
  it('another image renamed over the name after the check is refused, and keeps its bytes', () => {
    const image = cckdImage('image.cckd', 1);
    const other = cckdImage('other.cckd', 2);
    const bytes = readFileSync(other);
    afterCheck.plant = () => renameSync(other, image);
    let opened: Volume | undefined;
    let error: unknown;
    try {
      opened = openVolume(image);
      opened.writeTrackRecords(1, [{ key: Buffer.alloc(0), data: Buffer.alloc(1000, 0x77) }]);
    } catch (caught) {
      error = caught;
    } finally {
      opened?.close();
    }
    expect(error).toBeInstanceOf(IoError);
    expect((error as Error).message).toContain(image);
    expect(readFileSync(image).equals(bytes), 'the image renamed there keeps its bytes').toBe(true);
  });
});
