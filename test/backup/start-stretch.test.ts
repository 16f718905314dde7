/**
 * Layer: scenario (issue 22, host writes that do not notice a backup). A backup's start instant is
 * one synchronous stretch on the owning thread, where every host write waits. The layout file
 * (1.1 MB of JSON on a 3390-3) and the first record, each made durable with two fsyncs (flushes of
 * the disk's cache, tens of ms behind other writeback), are written in the next turn of the event
 * loop of their own instead, before the copy starts. A record left by an earlier, interrupted backup to the same
 * tape is removed before anything of the new one is written, so that a crash before the new record
 * lands leaves no record to resume from (never the old record over the new bitmap and tape).
 */
import fs, { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-start-');
afterAll(() => temp.cleanup());

describe('the start instant of a backup', () => {
  it('makes nothing durable in its synchronous stretch; the layout and the record land before the copy', async () => {
    makeFilledVolume(temp.path, { cylinders: 10, seed: 22, percent: 100, name: 'src.ckd' }).close();
    const volume = openVolume(join(temp.path, 'src.ckd'));
    const tape = join(temp.path, 'start.aws');
    // An interrupted backup to the same tape left its record.
    writeFileSync(`${tape}.session.json`, `${JSON.stringify({ kind: 'tape-backup', status: 'running', tapePath: tape, startedAt: 'earlier' })}\n`);
    const realFsync = fs.fsyncSync;
    let fsyncs = 0;
    fs.fsyncSync = (fd: number): void => {
      fsyncs++;
      realFsync(fd);
    };
    syncBuiltinESMExports();
    let session: TapeBackupSession;
    try {
      session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, force: true, throttleMbps: 20 });
    } finally {
      fs.fsyncSync = realFsync;
      syncBuiltinESMExports();
    }
    try {
      expect(fsyncs, 'fsyncs in the start instant').toBe(0);
      expect(existsSync(`${tape}.session.json`), 'the earlier backup record is gone').toBe(false);
      // Some turns of the event loop later (the host's pending writes are served first, and the
      // pool's threads start before the record): the record lands, while the throttled copy runs.
      const deadline = Date.now() + 10_000;
      while (!existsSync(`${tape}.session.json`) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      const record = JSON.parse(readFileSync(`${tape}.session.json`, 'utf8')) as { status: string; startedAt: string };
      expect(record.status).toBe('running');
      expect(record.startedAt).not.toBe('earlier');
      const layout = JSON.parse(readFileSync(`${tape}.session.layout.json`, 'utf8')) as { unitCount: number };
      expect(layout.unitCount).toBe(150);
      const summary = await session.done;
      expect(summary.elements[0]?.blocks).toBe(150);
      expect((JSON.parse(readFileSync(`${tape}.session.json`, 'utf8')) as { status: string }).status).toBe('completed');
    } finally {
      volume.close();
    }
  }, 60_000);
});
