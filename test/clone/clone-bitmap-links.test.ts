/**
 * Layer: unit, hostile local user. `<target>.clone.bitmap` is written whole (temp file + rename) by
 * CREATE, and then reopened (at once, and by a resume after a restart) and written in place, a word
 * at a time before the host write that needs it: a symbolic link or a hard link put at its name, to
 * another file (holding a clone bitmap's own bytes, so that nothing else gives it away), is refused
 * with a typed error naming it, and the other file is not written.
 */
import { linkSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors/snaptape-error.js';
import { CloneBitmapFile } from '../../src/techniques/clone/clone-bitmap-file.js';
import { PERSISTED_COLUMNS } from '../../src/techniques/clone/clone-record.js';
import { makeTempDir } from '../harness/temp-dir.js';

const dir = makeTempDir('snaptape-clone-links-');
afterAll(() => dir.cleanup());

const UNITS = 64;
const state = (): { unitCount: number; phase: 'active'; columns: Int32Array[] } => ({
  unitCount: UNITS,
  phase: 'active',
  columns: PERSISTED_COLUMNS.map(() => new Int32Array(UNITS / 32)),
});

describe('the clone bitmap is never written in place through a link', () => {
  let n = 0;
  for (const [kind, link, words] of [
    ['a symbolic link', symlinkSync, 'symbolic link'],
    ['a hard link', linkSync, 'hard link'],
  ] as const) {
    it(`reopening refuses ${kind} at the bitmap, and leaves the other file alone`, () => {
      const path = join(dir.path, `t${n++}.ckd.clone.bitmap`);
      CloneBitmapFile.create(path, state()).close();
      const victim = `${path}.victim`;
      const bytes = readFileSync(path);
      writeFileSync(victim, bytes);
      unlinkSync(path);
      link(victim, path);
      let error: unknown;
      try {
        const file = CloneBitmapFile.open(path, state());
        try {
          file.markToCopy(5);
        } finally {
          file.close();
        }
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(IoError);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toContain(words);
      expect(readFileSync(victim).equals(bytes), 'the victim is unchanged').toBe(true);
    });
  }

  it('a bitmap of its own is created, reopened and written in place as before', () => {
    const path = join(dir.path, 'own.ckd.clone.bitmap');
    CloneBitmapFile.create(path, state()).close();
    const before = readFileSync(path);
    const file = CloneBitmapFile.open(path, state());
    file.markToCopy(5);
    expect(file.test('clonePb', 5)).toBe(true);
    file.close();
    expect(readFileSync(path).equals(before), 'the bit is in the file').toBe(false);
  });
});
