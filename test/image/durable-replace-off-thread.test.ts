/**
 * Layer: unit. `durableReplaceOffThread` (a record made durable with its fsyncs on libuv's pool)
 * replaces the file whole, and a replacement overtaken by a newer decision is dropped: the newer
 * content stays and no temp file is left.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { durableReplace, durableReplaceOffThread } from '../../src/image/durable-replace.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-replace-');
afterAll(() => temp.cleanup());

describe('a durable replacement off the thread', () => {
  it('replaces the file with the new content', async () => {
    const path = join(temp.path, 'a.json');
    writeFileSync(path, 'old');
    await expect(durableReplaceOffThread(path, 'new', 'persist a', () => true)).resolves.toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(existsSync(`${path}.async.tmp`)).toBe(false);
  });

  it('is dropped when a newer replacement was decided meanwhile, and leaves that one', async () => {
    const path = join(temp.path, 'b.json');
    writeFileSync(path, 'old');
    let newest = 1;
    const older = durableReplaceOffThread(path, 'checkpoint', 'persist b', () => newest === 1);
    // Decided after it, written at once (a stop, on the owning thread).
    newest = 2;
    durableReplace(path, 'stopped', 'persist b');
    await expect(older).resolves.toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('stopped');
    expect(existsSync(`${path}.async.tmp`)).toBe(false);
  });

  it('names the file in its error when the folder is gone', async () => {
    await expect(durableReplaceOffThread(join(temp.path, 'gone', 'c.json'), 'x', 'persist c', () => true)).rejects.toThrow(/c\.json/);
  });
});
