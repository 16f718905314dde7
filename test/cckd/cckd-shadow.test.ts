/**
 * Layer: property test against a plain model (issue 11 acceptance, shadow files). Writes to a CCKD
 * volume opened with a shadow go to the shadow: the base's SHA-256 does not change. Merging the
 * shadow gives, track for track, what applying the same writes to the base directly gives, and the
 * merged base passes cckdcdsk. Removing a shadow gives back the base as it was.
 * Replay a failure with SNAPTAPE_SEED=<seed printed>.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/api/volume-api.js';
import { convertImage } from '../../src/image/image-convert.js';
import { createShadow, mergeShadow, removeShadow } from '../../src/image/cckd-shadow.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume, Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { sha256File } from '../harness/dasd.js';
import { fcSeed } from '../harness/fc-seed.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { expectCckdcdskAgrees } from './cckd-helpers.js';

let dir: TempDir;
let base: string;
beforeEach(() => {
  dir = makeTempDir();
  const source = makeFilledVolume(dir.path, { cylinders: 3, seed: 11 });
  source.close();
  base = join(dir.path, 'base.cckd');
  convertImage(source.path, base, { format: 'cckd' });
});
afterEach(() => dir.cleanup());

/** The same host writes, from the same seed, to any volume. */
function applyWrites(volume: Volume, seed: number, count: number): void {
  const prng = new Prng(seed);
  for (let i = 0; i < count; i++) randomHostWrite(volume, prng.below(volume.ckd.trackCount), prng);
}

describe('CCKD shadow files', () => {
  it('writes go to the shadow and the base is unchanged; merge equals writing the base directly', () => {
    const seed = fcSeed('cckd-shadow');
    const direct = join(dir.path, 'direct.cckd');
    copyFileSync(base, direct);
    const shadow = join(dir.path, 'base_1.cckd');
    const baseSha = sha256File(base);
    createShadow(base, [], shadow);
    const layered = openVolume(base, { shadows: [shadow] });
    applyWrites(layered, seed, 120);
    layered.close();
    expect(sha256File(base), 'the base is never written under a shadow').toBe(baseSha);
    const plain = openVolume(direct);
    applyWrites(plain, seed, 120);
    plain.close();
    // Before the merge the stack already reads as the directly written volume.
    const stack = join(dir.path, 'stack.ckd');
    convertImage(base, stack, { format: 'ckd', shadows: [shadow] });
    expect(compareImages(direct, stack).mismatched).toBe(0);
    expectCckdcdskAgrees(shadow, dir.path);
    const merged = mergeShadow(base, [shadow]);
    expect(merged.into).toBe(base);
    expect(merged.mergedTracks).toBeGreaterThan(0);
    expect(existsSync(shadow)).toBe(false);
    expect(compareImages(direct, base).mismatched).toBe(0);
    expectCckdcdskAgrees(base, dir.path);
  });

  it('two shadows: reads take the newest, merging the top one folds it into the one below', () => {
    const seed = fcSeed('cckd-shadow-two');
    const s1 = join(dir.path, 'base_1.cckd');
    const s2 = join(dir.path, 'base_2.cckd');
    const direct = join(dir.path, 'direct.cckd');
    copyFileSync(base, direct);
    createShadow(base, [], s1);
    let v = openVolume(base, { shadows: [s1] });
    applyWrites(v, seed, 40);
    v.close();
    createShadow(base, [s1], s2);
    const s1Sha = sha256File(s1);
    v = openVolume(base, { shadows: [s1, s2] });
    applyWrites(v, seed + 1, 40);
    v.close();
    expect(sha256File(s1)).toBe(s1Sha);
    const d = openVolume(direct);
    applyWrites(d, seed, 40);
    applyWrites(d, seed + 1, 40);
    d.close();
    mergeShadow(base, [s1, s2]);
    const stack = join(dir.path, 'stack.ckd');
    convertImage(base, stack, { format: 'ckd', shadows: [s1] });
    expect(compareImages(direct, stack).mismatched).toBe(0);
  });

  it('remove discards the shadow: the base reads as before', () => {
    const shadow = join(dir.path, 'base_1.cckd');
    const before = join(dir.path, 'before.ckd');
    convertImage(base, before, { format: 'ckd' });
    createShadow(base, [], shadow);
    const v = openVolume(base, { shadows: [shadow] });
    applyWrites(v, 5, 30);
    v.close();
    expect(removeShadow(base, [shadow])).toBe(shadow);
    expect(existsSync(shadow)).toBe(false);
    expect(compareImages(before, base).mismatched).toBe(0);
  });

  it('a shadow file alone, or a base given as a shadow, is refused with a typed error', () => {
    const shadow = join(dir.path, 'base_1.cckd');
    createShadow(base, [], shadow);
    expect(() => openVolume(shadow)).toThrow(expect.objectContaining({ code: 'IMAGE_FORMAT', message: expect.stringMatching(/CCKD shadow file/) }));
    expect(() => openVolume(base, { shadows: [base] })).toThrow(expect.objectContaining({ code: expect.stringMatching(/IMAGE_FORMAT|LOCKED/) }));
  });
});
