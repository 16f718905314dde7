/**
 * Layer: scenario (issue 22: no single host write waits over 50 ms at a backup's finish). Once the
 * last track is on the tape, the finish made its last files durable on the owning thread: the
 * completed record (two fsyncs), the change-tracking state that makes the checkpoint a base (two
 * more, on a tracked volume) and the track map beside the tape (two more). On this machine's disk
 * (no journal) each fsync flushes the disk's cache: with other writeback going on, that last
 * synchronous stretch held a host write 109 ms, its fsyncs 8-19 ms each (strace of `snaptape serve`
 * under bench/nbd-latency.mjs). They run on libuv's pool instead (durable-replace.ts): no fsync on
 * the owning thread from the session's `completing` state to its map's end, and the files still
 * land, in their order (test/faults/power-loss.test.ts crashes at every step of it).
 */
import fs, { existsSync, readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { ChangeTracker } from '../../src/techniques/tracking/change-tracker.js';
import { readTrackingState } from '../../src/techniques/tracking/tracking-file.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-finish-');
afterAll(() => temp.cleanup());

/** Counts the fsyncs this thread makes (fsyncSync: the pool's own are not counted) while `on` says so. */
function countFsyncs(): { count: number; on: boolean; restore(): void } {
  const realFsync = fs.fsyncSync;
  const counter = {
    count: 0,
    on: false,
    restore(): void {
      fs.fsyncSync = realFsync;
      syncBuiltinESMExports();
    },
  };
  fs.fsyncSync = (fd: number): void => {
    if (counter.on) counter.count++;
    realFsync(fd);
  };
  syncBuiltinESMExports();
  return counter;
}

describe("a backup's finish", () => {
  for (const tracked of [false, true]) {
    it(`makes its last files durable off the owning thread (${tracked ? 'a tracked volume' : 'no tracking'})`, async () => {
      const name = tracked ? 'tracked' : 'plain';
      makeFilledVolume(temp.path, { cylinders: 5, seed: 22, percent: 100, name: `${name}.ckd` }).close();
      const volume = openVolume(join(temp.path, `${name}.ckd`));
      if (tracked) ChangeTracker.enable(volume);
      const tape = join(temp.path, `${name}.aws`);
      const fsyncs = countFsyncs();
      try {
        const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1 });
        // As the server does: the kept map is written beside the tape once the backup completed.
        const map = session.trackMap();
        session.on('state', (state: string) => {
          if (state === 'completing') fsyncs.on = true;
        });
        const summary = await session.done;
        await map.final;
        fsyncs.on = false;
        expect(session.state).toBe('completed');
        expect(fsyncs.count, 'fsyncs on the owning thread from the last track on the tape to the map written').toBe(0);
        const record = JSON.parse(readFileSync(`${tape}.session.json`, 'utf8')) as { status: string };
        expect(record.status).toBe('completed');
        expect(existsSync(`${tape}.session.bitmap`)).toBe(false);
        expect(existsSync(`${tape}.session.json.async.tmp`)).toBe(false);
        expect(existsSync(`${tape}.map.json`)).toBe(true);
        if (tracked) {
          const checkpoint = readTrackingState(volume.path).checkpoints.find((c) => c.tape?.path === tape);
          expect(checkpoint?.tape?.complete, 'the checkpoint is a base').toBe(true);
          expect(checkpoint?.tape?.sha256).toBe(summary.tapeSha256);
        }
      } finally {
        fsyncs.restore();
        volume.close();
      }
    }, 60_000);
  }
});
