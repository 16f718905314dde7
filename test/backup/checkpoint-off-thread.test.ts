/**
 * Layer: scenario (issue 22, host writes that do not notice a backup). A backup's checkpoint (its
 * record, every 5 s) is made durable with two fsyncs; behind the copy's writeback one took 320 ms,
 * and on the owning thread every host write waited for it. The checkpoint's fsyncs run on libuv's
 * pool instead: no fsync on the owning thread while the copy runs, the checkpoint still lands (its
 * record is newer than the first), and the completed record is the last word, with no temp file left.
 */
import fs, { existsSync, readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { CHECKPOINT_INTERVAL_MS, TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-checkpoint-');
afterAll(() => temp.cleanup());

describe('a backup checkpoint', () => {
  it('makes its record durable off the owning thread, and the completed record stays the last', async () => {
    makeFilledVolume(temp.path, { cylinders: 10, seed: 22, percent: 100, name: 'src.ckd' }).close();
    const volume = openVolume(join(temp.path, 'src.ckd'));
    const tape = join(temp.path, 'ckpt.aws');
    const realFsync = fs.fsyncSync;
    let fsyncsWhileCopying = 0;
    let copying = false;
    fs.fsyncSync = (fd: number): void => {
      if (copying) fsyncsWhileCopying++;
      realFsync(fd);
    };
    syncBuiltinESMExports();
    try {
      // 150 tracks (8.5 MB) at 1.2 MB/s: the copy lasts past the first checkpoint.
      const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 1.2 });
      // The first record lands a few turns after the start instant (start-stretch.test.ts); on a
      // loaded machine a fixed 50 ms wait was not always enough, so wait for it to appear.
      for (let waited = 0; !existsSync(`${tape}.session.json`); waited += 10) {
        expect(waited, 'the first record landed').toBeLessThan(5_000);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const first = JSON.parse(readFileSync(`${tape}.session.json`, 'utf8')) as { updatedAt: string };
      copying = true;
      await new Promise((resolve) => setTimeout(resolve, CHECKPOINT_INTERVAL_MS + 1_000));
      expect(session.state, 'the copy was still running at the checkpoint').toBe('running');
      copying = false;
      const checkpoint = JSON.parse(readFileSync(`${tape}.session.json`, 'utf8')) as { status: string; updatedAt: string };
      expect(checkpoint.status).toBe('running');
      expect(Date.parse(checkpoint.updatedAt), 'a checkpoint landed').toBeGreaterThan(Date.parse(first.updatedAt));
      expect(fsyncsWhileCopying, 'fsyncs on the owning thread during the copy').toBe(0);
      await session.done;
      const last = JSON.parse(readFileSync(`${tape}.session.json`, 'utf8')) as { status: string };
      expect(last.status).toBe('completed');
      expect(existsSync(`${tape}.session.json.async.tmp`)).toBe(false);
      expect(existsSync(`${tape}.session.bitmap`)).toBe(false);
    } finally {
      fs.fsyncSync = realFsync;
      syncBuiltinESMExports();
      volume.close();
    }
  }, 60_000);
});
