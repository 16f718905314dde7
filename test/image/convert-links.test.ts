/**
 * Layer: unit, hostile local user. `convert` writes `<output>.converting` and renames it over the
 * output at the end. A link put at that name beforehand (a symbolic link, dangling or not, or a
 * hard link, to a file of the attacker's choosing) is what a convert that stopped would leave in
 * its way: it is removed, never followed. Followed, the file it names was emptied and written with
 * the whole image, and a symbolic link was then renamed over the output.
 */
import { existsSync, linkSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { convertImage } from '../../src/image/image-convert.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let source: string;
beforeAll(() => {
  dir = makeTempDir('snaptape-convert-links-');
  const volume = makeFilledVolume(dir.path, { cylinders: 1, seed: 14 });
  source = volume.path;
  volume.close();
});
afterAll(() => dir.cleanup());

describe('convert never follows a link at its temp file', () => {
  it('a dangling symbolic link at <output>.converting is removed: no file is made where it points', () => {
    const output = join(dir.path, 'dangling.cckd');
    const victim = join(dir.path, 'dangling.victim');
    symlinkSync(victim, `${output}.converting`);
    convertImage(source, output, { format: 'cckd' });
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
    expect(lstatSync(output).isFile(), 'the output is a regular file, not the link renamed over it').toBe(true);
    expect(compareImages(source, output).mismatched).toBe(0);
  });

  for (const [kind, link] of [
    ['a symbolic link', symlinkSync],
    ['a hard link', linkSync],
  ] as const) {
    it(`${kind} to another file at <output>.converting is removed, and that file is left alone`, () => {
      const output = join(dir.path, `${kind.replace(/ /g, '-')}.cckd`);
      const victim = `${output}.victim`;
      const bytes = Buffer.alloc(4096, 0x5a);
      writeFileSync(victim, bytes);
      link(victim, `${output}.converting`);
      convertImage(source, output, { format: 'cckd' });
      expect(readFileSync(victim).equals(bytes), 'the victim is neither emptied nor written').toBe(true);
      expect(lstatSync(output).isFile()).toBe(true);
      expect(compareImages(source, output).mismatched).toBe(0);
    });
  }
});
