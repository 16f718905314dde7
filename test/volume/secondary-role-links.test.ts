/**
 * Layer: unit, hostile local user. `<image>.secondary` (a mirror secondary's role file) is created
 * by `mirror create` and a split, reopened by every open of the secondary and written in place (a
 * state change, a unit written while split): a symbolic link or a hard link put at its name, to
 * another file (holding a role file's own bytes, so that nothing else gives it away), is refused
 * with a typed error naming it, and the other file is neither emptied, nor written, nor made.
 */
import { existsSync, linkSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors/snaptape-error.js';
import { SecondaryRoleFile, secondaryRolePath } from '../../src/volume/secondary-role-file.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { thrown } from '../harness/thrown.js';

const dir = makeTempDir('snaptape-role-links-');
afterAll(() => dir.cleanup());

const UNITS = 64;
const links = [
  ['a symbolic link', symlinkSync, 'symbolic link'],
  ['a hard link', linkSync, 'hard link'],
] as const;

/** A role file's bytes in `victim` (written as the image's own, then moved aside). */
function plantVictim(image: string, victim: string): Buffer {
  SecondaryRoleFile.create(image, UNITS, 'split');
  const role = secondaryRolePath(image);
  const bytes = readFileSync(role);
  writeFileSync(victim, bytes);
  unlinkSync(role);
  return bytes;
}

function expectRefused(error: unknown, path: string, words: string): void {
  expect(error).toBeInstanceOf(IoError);
  expect((error as Error).message).toContain(path);
  expect((error as Error).message).toContain(words);
}

describe('the secondary role file is never written through a link', () => {
  let n = 0;
  for (const [kind, link, words] of links) {
    it(`create refuses ${kind} at the role file, and leaves the other file alone`, () => {
      const image = join(dir.path, `create-${n++}.ckd`);
      const victim = `${image}.victim`;
      const bytes = plantVictim(image, victim);
      link(victim, secondaryRolePath(image));
      expectRefused(
        thrown(() => SecondaryRoleFile.create(image, UNITS, 'protected')),
        secondaryRolePath(image),
        words,
      );
      expect(readFileSync(victim).equals(bytes), 'the victim is neither emptied nor written').toBe(true);
    });

    it(`open refuses ${kind} at the role file, and leaves the other file alone`, () => {
      const image = join(dir.path, `open-${n++}.ckd`);
      const victim = `${image}.victim`;
      const bytes = plantVictim(image, victim);
      link(victim, secondaryRolePath(image));
      expectRefused(
        thrown(() => SecondaryRoleFile.open(image, UNITS).record(3, 2)),
        secondaryRolePath(image),
        words,
      );
      expect(readFileSync(victim).equals(bytes), 'the victim is unchanged').toBe(true);
    });
  }

  it('create refuses a dangling symbolic link at the role file, and makes no file where it points', () => {
    const image = join(dir.path, 'dangling.ckd');
    const victim = `${image}.victim`;
    symlinkSync(victim, secondaryRolePath(image));
    expect(SecondaryRoleFile.exists(image), 'a dangling link is no role file').toBe(false);
    expectRefused(
      thrown(() => SecondaryRoleFile.create(image, UNITS, 'protected')),
      secondaryRolePath(image),
      'symbolic link',
    );
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
  });

  it('a role file of its own is created, reopened and written as before', () => {
    const image = join(dir.path, 'own.ckd');
    SecondaryRoleFile.create(image, UNITS, 'split').record(5, 3);
    const again = SecondaryRoleFile.open(image, UNITS);
    expect(again.state).toBe('split');
    expect(again.writtenUnits()).toEqual([5, 6, 7]);
    // Created again over an existing one (a rejoin protects it anew): emptied, then written.
    SecondaryRoleFile.create(image, UNITS, 'protected');
    expect(SecondaryRoleFile.open(image, UNITS).writtenUnits()).toEqual([]);
  });
});
