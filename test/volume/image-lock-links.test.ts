/**
 * Layer: unit, hostile local user. Taking an image's lock writes its text to
 * `<image>.lock.<pid>.tmp` and links that to `<image>.lock`: a symbolic link or a hard link put at
 * the temp file's name (the pid is easy to guess), to another file, is refused with a typed error
 * naming it, and the other file is neither emptied nor written with the lock's text.
 */
import { existsSync, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors/snaptape-error.js';
import { lockImage } from '../../src/image/image-lock.js';
import { makeTempDir } from '../harness/temp-dir.js';

const dir = makeTempDir('snaptape-lock-links-');
afterAll(() => dir.cleanup());

describe("an image lock's temp file is never written through a link", () => {
  let n = 0;
  for (const [kind, link, words] of [
    ['a symbolic link', symlinkSync, 'symbolic link'],
    ['a hard link', linkSync, 'hard link'],
  ] as const) {
    it(`${kind} at the temp file is refused, and the file it names is left alone`, () => {
      const image = join(dir.path, `v${n++}.ckd`);
      writeFileSync(image, Buffer.alloc(4096));
      const temp = `${image}.lock.${process.pid}.tmp`;
      const victim = `${image}.victim`;
      const bytes = Buffer.alloc(4096, 0x5a);
      writeFileSync(victim, bytes);
      link(victim, temp);
      let error: unknown;
      try {
        lockImage(image).release();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(IoError);
      expect((error as Error).message).toContain(temp);
      expect((error as Error).message).toContain(words);
      expect(readFileSync(victim).equals(bytes), 'the victim is neither emptied nor written').toBe(true);
    });
  }

  it('a lock is taken and released as before', () => {
    const image = join(dir.path, 'own.ckd');
    writeFileSync(image, Buffer.alloc(4096));
    const lock = lockImage(image);
    expect(readFileSync(`${image}.lock`, 'utf8')).toContain(`${process.pid}\n`);
    lock.release();
  });
});

describe("a stale lock's takeover guard is never made through a link", () => {
  it('a dangling symbolic link at <image>.lock.guard is refused, and no file is made where it points', () => {
    const image = join(dir.path, 'stale.ckd');
    writeFileSync(image, Buffer.alloc(4096));
    // A lock whose owner is gone (no such pid): taking it over goes through the guard.
    writeFileSync(`${image}.lock`, `4194303\n${hostname()}\n\nfeedfacefeedface\n`);
    const guard = `${image}.lock.guard`;
    const victim = `${image}.victim`;
    symlinkSync(victim, guard);
    let error: unknown;
    try {
      lockImage(image).release();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IoError);
    expect((error as Error).message).toContain(guard);
    expect((error as Error).message).toContain('symbolic link');
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
  });

  it('a stale lock is taken over through a guard of its own as before', () => {
    const image = join(dir.path, 'stale-own.ckd');
    writeFileSync(image, Buffer.alloc(4096));
    writeFileSync(`${image}.lock`, `4194303\n${hostname()}\n\nfeedfacefeedface\n`);
    const lock = lockImage(image);
    expect(readFileSync(`${image}.lock`, 'utf8')).toContain(`${process.pid}\n`);
    lock.release();
    expect(existsSync(`${image}.lock.guard`)).toBe(true);
  });
});
