/**
 * Layer: unit. Two off-thread replacements of one path can be in flight at once in a process (two
 * backups of one tracked volume that finish together each mark their checkpoint complete in
 * `<image>.tracking.json`); they share one temp file, `<path>.async.tmp`. The one decided last
 * lands whole, the one it overtook is dropped, neither fails, and the record is never a mix of them.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { durableReplaceOffThread, offThreadTempPath } from '../../src/image/durable-replace.js';
import { makeTempDir } from '../harness/temp-dir.js';

const dir = makeTempDir('snaptape-replace-overlap-');
afterAll(() => dir.cleanup());

describe('off-thread replacements of one path in flight at once', () => {
  it('the last decided lands whole, the overtaken one is dropped, and neither fails', async () => {
    const path = join(dir.path, 'state.json');
    writeFileSync(path, 'old');
    const rounds = 30;
    let decided = 0;
    for (let round = 0; round < rounds; round++) {
      // The first is the longer, so that a mix of the two shows in the bytes.
      const first = `${JSON.stringify({ round, who: 'first', pad: 'x'.repeat(64 * 1024) })}\n`;
      const second = `${JSON.stringify({ round, who: 'second' })}\n`;
      const a = (decided += 1);
      const p1 = durableReplaceOffThread(path, first, 'write the state', () => decided === a);
      const b = (decided += 1);
      const p2 = durableReplaceOffThread(path, second, 'write the state', () => decided === b);
      const [r1, r2] = await Promise.allSettled([p1, p2]);
      expect(r1, `round ${round}: the first`).toEqual({ status: 'fulfilled', value: false });
      expect(r2, `round ${round}: the second`).toEqual({ status: 'fulfilled', value: true });
      expect(readFileSync(path, 'utf8'), `round ${round}: the record is the second's, whole`).toBe(second);
      expect(existsSync(offThreadTempPath(path)), `round ${round}: no temp file is left`).toBe(false);
    }
  });
});
