/**
 * Layer: unit, hostile local user. A shadow merge writes `<below>.merging` and `convert` writes
 * `<output>.converting`, each made exclusively, then renamed over the file they replace. Whoever
 * can write the folder may rename a link (or another file) into the temp file's name after it was
 * made: the merge must keep writing the file it made (never reopen it by name, which followed the
 * link and wrote the merged image into the file it names), and the final rename must be of the
 * file written (else the link took the image's place). Refused with an IoError naming the temp
 * file; the file outside keeps its bytes, and the image keeps its place and bytes.
 */
import { copyFileSync, existsSync, lstatSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { IoError } from '../../src/errors/snaptape-error.js';
import { CckdFile } from '../../src/image/cckd-file.js';
import { createShadow, mergeShadow } from '../../src/image/cckd-shadow.js';
import { convertImage } from '../../src/image/image-convert.js';
import { makeFilledVolume, Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { thrown } from '../harness/thrown.js';

let dir: TempDir;
let d: (name: string) => string;
let source: string;
beforeEach(() => {
  dir = makeTempDir('snaptape-temp-swap-');
  d = (name) => join(dir.path, name);
  const volume = makeFilledVolume(dir.path, { cylinders: 1, seed: 15 });
  source = volume.path;
  volume.close();
});
afterEach(() => {
  vi.restoreAllMocks();
  dir.cleanup();
});

/** Puts a symbolic link to `victim` in `temp`'s place, as another user who can write the folder would (rename(2) of a link made beside it). */
function swapInLink(temp: string, victim: string): void {
  symlinkSync(victim, `${temp}.planted`);
  renameSync(`${temp}.planted`, temp);
}

describe('a shadow merge writes and renames only the temp file it made', () => {
  it('a link renamed into <below>.merging after it was made is refused: the file it names and the image keep their bytes', () => {
    const base = d('base.cckd');
    convertImage(source, base, { format: 'cckd' });
    const shadow = d('base_1.cckd');
    createShadow(base, [], shadow);
    const layered = openVolume(base, { shadows: [shadow] });
    const prng = new Prng(15);
    for (let i = 0; i < 10; i++) randomHostWrite(layered, prng.below(layered.ckd.trackCount), prng);
    layered.close();
    // The victim holds the image's own bytes, so that nothing but the swap gives it away.
    const victim = d('victim.cckd');
    copyFileSync(base, victim);
    const victimBytes = readFileSync(victim);
    const baseBytes = readFileSync(base);
    const temp = `${base}.merging`;
    const open = CckdFile.open.bind(CckdFile);
    // Once the temp file is made, and before the merge writes it: the shadow is opened then.
    vi.spyOn(CckdFile, 'open').mockImplementation((path, options) => {
      if (path === shadow && existsSync(temp)) swapInLink(temp, victim);
      return open(path, options);
    });
    const error = thrown(() => mergeShadow(base, [shadow]));
    expect(error).toBeInstanceOf(IoError);
    expect((error as Error).message).toContain(temp);
    expect(readFileSync(victim).equals(victimBytes), 'the file the link names is not written').toBe(true);
    expect(lstatSync(base).isFile(), 'the image is not replaced by the link').toBe(true);
    expect(readFileSync(base).equals(baseBytes), 'the image keeps its bytes').toBe(true);
    expect(existsSync(shadow), 'the shadow is kept: nothing was merged').toBe(true);
  });
});

describe('convert renames only the temp file it made', () => {
  it('a link renamed into <output>.converting after it was made is refused: the output is not the link, the file it names keeps its bytes', () => {
    const output = d('out.cckd');
    const temp = `${output}.converting`;
    const victim = d('victim.bin');
    const bytes = Buffer.alloc(4096, 0x5a);
    writeFileSync(victim, bytes);
    const error = thrown(() =>
      convertImage(source, output, {
        format: 'cckd',
        onProgress: (done, total) => {
          if (done === total) swapInLink(temp, victim);
        },
      }),
    );
    expect(error).toBeInstanceOf(IoError);
    expect((error as Error).message).toContain(temp);
    expect(lstatSync(output, { throwIfNoEntry: false }), 'no output is made (least of all the link)').toBeUndefined();
    expect(readFileSync(victim).equals(bytes), 'the file the link names keeps its bytes').toBe(true);
  });

  it('with --force, the output replaced keeps its bytes when the temp file was swapped', () => {
    const output = d('forced.cckd');
    const temp = `${output}.converting`;
    const before = Buffer.alloc(8192, 0x33);
    writeFileSync(output, before);
    const victim = d('victim2.bin');
    writeFileSync(victim, Buffer.alloc(4096, 0x5a));
    const error = thrown(() =>
      convertImage(source, output, {
        format: 'ckd',
        force: true,
        onProgress: (done, total) => {
          if (done === total) swapInLink(temp, victim);
        },
      }),
    );
    expect(error).toBeInstanceOf(IoError);
    expect(lstatSync(output).isFile(), 'the output is not the link').toBe(true);
    expect(readFileSync(output).equals(before), 'the output keeps its bytes').toBe(true);
  });
});
