/**
 * Layer: unit, hostile local user. A durable replacement writes `<path>.tmp` (`<path>.async.tmp`
 * off the thread) before it renames it over the record: a symbolic link or a hard link put at that
 * name, to another file, is refused with a typed error naming it, and the other file is neither
 * emptied nor written; the record keeps its old content.
 */
import { linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { durableReplace, durableReplaceOffThread, offThreadTempPath } from '../../src/image/durable-replace.js';
import { IoError } from '../../src/errors/snaptape-error.js';
import { makeTempDir } from '../harness/temp-dir.js';

const dir = makeTempDir('snaptape-replace-links-');
afterAll(() => dir.cleanup());

const ways = [
  ['durableReplace', (path: string): string => `${path}.tmp`, async (path: string) => durableReplace(path, 'new', 'persist the record')],
  ['durableReplaceOffThread', offThreadTempPath, async (path: string) => durableReplaceOffThread(path, 'new', 'persist the record', () => true)],
] as const;
const links = [
  ['a symbolic link', symlinkSync, 'symbolic link'],
  ['a hard link', linkSync, 'hard link'],
] as const;

describe('a durable replacement never writes through a link at its temp file', () => {
  for (const [way, tempOf, replace] of ways) {
    for (const [kind, link, words] of links) {
      it(`${way}: ${kind} at the temp file is refused, and the file it names is left alone`, async () => {
        const path = join(dir.path, `${way}-${words.replace(' ', '-')}.json`);
        writeFileSync(path, 'old');
        const victim = `${path}.victim`;
        const bytes = Buffer.alloc(4096, 0x5a);
        writeFileSync(victim, bytes);
        link(victim, tempOf(path));
        const error = await replace(path).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(IoError);
        expect((error as Error).message).toContain(tempOf(path));
        expect((error as Error).message).toContain(words);
        expect(readFileSync(victim).equals(bytes), 'the victim is neither emptied nor written').toBe(true);
        expect(readFileSync(path, 'utf8'), 'the record keeps its old content').toBe('old');
      });
    }
  }
});
