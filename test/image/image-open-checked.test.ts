/**
 * Layer: unit, hostile local user. A CKD or FBA image opened for writing is inspected on a
 * read-only descriptor (its geometry from its header or size), then locked and opened again by its
 * name for writing. Whoever can write the folder may rename another image over the name in
 * between: the writer must refuse it (a typed error naming the image), not write a file it never
 * inspected, with the geometry of another.
 */
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { IoError } from '../../src/errors/snaptape-error.js';
import { unitCount } from '../../src/geometry/volume-geometry.js';
import { openImage } from '../../src/image/open-image.js';
import type { ImageBackend } from '../../src/image/image-backend.js';
import { vectorPath } from '../harness/vectors.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** What the hostile user does once the image has been inspected and locked: set per test. */
const afterLock = { plant: (): void => undefined };

vi.mock('../../src/image/image-lock.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/image/image-lock.js')>();
  return {
    ...actual,
    lockImage: vi.fn((...args: Parameters<typeof actual.lockImage>) => {
      const lock = actual.lockImage(...args);
      afterLock.plant();
      afterLock.plant = () => undefined;
      return lock;
    }),
  };
});

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir('snaptape-image-open-checked-');
});
afterEach(() => dir.cleanup());

describe('a CKD image is written only as the file its open inspected', () => {
  it('another image renamed over the name after the inspection is refused, and keeps its bytes', () => {
    const image = makeFilledVolume(dir.path, { cylinders: 1, seed: 1, name: 'image.ckd' });
    image.close();
    const other = makeFilledVolume(dir.path, { cylinders: 1, seed: 2, name: 'other.ckd' });
    other.close();
    const bytes = readFileSync(other.path);
    afterLock.plant = () => renameSync(other.path, image.path);
    let opened: Volume | undefined;
    let error: unknown;
    try {
      opened = openVolume(image.path);
      opened.writeTrackRecords(1, [{ key: Buffer.alloc(0), data: Buffer.alloc(1000, 0x77) }]);
    } catch (caught) {
      error = caught;
    } finally {
      opened?.close();
    }
    expect(error).toBeInstanceOf(IoError);
    expect((error as Error).message).toContain(image.path);
    expect(readFileSync(image.path).equals(bytes), 'the image renamed there keeps its bytes').toBe(true);
  });
});

describe('a multi-file volume writes each part only as the file its open inspected', () => {
  it('another file renamed over a part after the inspection is refused, and keeps its bytes', () => {
    const first = join(dir.path, 'split_1.ckd');
    const second = join(dir.path, 'split_2.ckd');
    copyFileSync(vectorPath('10_ckd3390_split_1.ckd', dir.path), first);
    copyFileSync(vectorPath('10_ckd3390_split_2.ckd', dir.path), second);
    // A file with part 2's bytes (its header and size give nothing away).
    const other = join(dir.path, 'other.ckd');
    copyFileSync(second, other);
    const bytes = readFileSync(other);
    afterLock.plant = () => renameSync(other, second);
    let opened: ImageBackend | undefined;
    let error: unknown;
    try {
      opened = openImage(first);
      opened.writeUnit(unitCount(opened.geometry) - 1, Buffer.alloc(opened.slotBytes, 0x77));
    } catch (caught) {
      error = caught;
    } finally {
      opened?.close();
    }
    expect(error).toBeInstanceOf(IoError);
    expect((error as Error).message).toContain(second);
    expect(readFileSync(second).equals(bytes), 'the file renamed there keeps its bytes').toBe(true);
  });
});
