/**
 * Layer: unit, hostile local user. Merging a CCKD shadow copies the file below it to
 * `<below>.merging`, merges into that and renames it over the file below. A link put at that name
 * beforehand (a dangling symbolic link, to a file of the attacker's choosing) is what a merge that
 * stopped would leave in its way: it is removed, never followed. Followed, the image's bytes went
 * to the file it names, the merge wrote there, and the link was renamed over the image.
 */
import { existsSync, lstatSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/api/volume-api.js';
import { convertImage } from '../../src/image/image-convert.js';
import { createShadow, mergeShadow } from '../../src/image/cckd-shadow.js';
import { makeFilledVolume, Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let base: string;
beforeEach(() => {
  dir = makeTempDir('snaptape-merge-links-');
  const source = makeFilledVolume(dir.path, { cylinders: 1, seed: 14 });
  source.close();
  base = join(dir.path, 'base.cckd');
  convertImage(source.path, base, { format: 'cckd' });
});
afterEach(() => dir.cleanup());

describe('a shadow merge never follows a link at its temp file', () => {
  it('a dangling symbolic link at <base>.merging is removed, not followed: no file is made where it points', () => {
    const shadow = join(dir.path, 'base_1.cckd');
    createShadow(base, [], shadow);
    const layered = openVolume(base, { shadows: [shadow] });
    const prng = new Prng(14);
    for (let i = 0; i < 10; i++) randomHostWrite(layered, prng.below(layered.ckd.trackCount), prng);
    layered.close();
    const stack = join(dir.path, 'stack.ckd');
    convertImage(base, stack, { format: 'ckd', shadows: [shadow] });
    const victim = join(dir.path, 'victim.bin');
    symlinkSync(victim, `${base}.merging`);
    mergeShadow(base, [shadow]);
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
    expect(lstatSync(base).isFile(), 'the image is a regular file, not the link renamed over it').toBe(true);
    expect(compareImages(stack, base).mismatched).toBe(0);
  });
});
