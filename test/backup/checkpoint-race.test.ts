/**
 * Layer: scenario (issue 22 review). A backup's checkpoint makes its record durable off the owning
 * thread: its temp file is written and fsynced on libuv's pool, and the rename lands only if no
 * record was decided since. These tests hold a checkpoint in flight (its temp file's open waits for
 * the test) and decide a record meanwhile: a pause or a cancel stays the record, and the session
 * ends in one state, leaving no temp file, descriptor or timer. A checkpoint that fails while the
 * finished copy waits for it fails the backup, and then no record ever said it completed.
 */
import fs, { existsSync, readFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { CHECKPOINT_INTERVAL_MS, TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { settledDescriptors } from '../harness/open-descriptors.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-checkpoint-race-');
afterAll(() => temp.cleanup());

/** Holds the open of a checkpoint's temp file until `release` (with an error: the open fails). */
class CheckpointGate {
  opened = false;
  private releaseNow: ((error?: Error) => void) | undefined;
  private readonly realOpen = fsp.open;

  install(): void {
    const realOpen = this.realOpen as (...args: unknown[]) => Promise<fsp.FileHandle>;
    fsp.open = ((path: fs.PathLike, ...rest: unknown[]) => {
      if (!String(path).endsWith('.async.tmp') || this.opened) return realOpen(path, ...rest);
      this.opened = true;
      return new Promise<fsp.FileHandle>((resolve, reject) => {
        this.releaseNow = (error) => (error ? reject(error) : resolve(realOpen(path, ...rest)));
      });
    }) as typeof fsp.open;
    syncBuiltinESMExports();
  }

  /** Once: a second call (afterEach's) must not open the temp file again, leaving a handle to the GC. */
  release(error?: Error): void {
    const releaseNow = this.releaseNow;
    this.releaseNow = undefined;
    releaseNow?.(error);
  }

  uninstall(): void {
    fsp.open = this.realOpen;
    syncBuiltinESMExports();
  }
}

/** Every record renamed into place by the owning thread's durable replace, in order. */
function watchRecords(tape: string): { statuses: string[]; stop(): void } {
  const realRename = fs.renameSync;
  const statuses: string[] = [];
  fs.renameSync = (from: fs.PathLike, to: fs.PathLike): void => {
    if (String(to) === `${tape}.session.json`) statuses.push((JSON.parse(readFileSync(from, 'utf8')) as { status: string }).status);
    realRename(from, to);
  };
  syncBuiltinESMExports();
  return {
    statuses,
    stop: () => {
      fs.renameSync = realRename;
      syncBuiltinESMExports();
    },
  };
}

const recordStatus = (tape: string): string => (JSON.parse(readFileSync(`${tape}.session.json`, 'utf8')) as { status: string }).status;
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('a record decided while a checkpoint is in flight', () => {
  let gate: CheckpointGate;
  let volume: Volume;
  let n = 0;
  beforeEach(() => {
    n++;
    makeFilledVolume(temp.path, { cylinders: 10, seed: 22, percent: 100, name: `src${n}.ckd` }).close();
    volume = openVolume(join(temp.path, `src${n}.ckd`));
    gate = new CheckpointGate();
    gate.install();
  });
  afterEach(() => {
    gate.release();
    gate.uninstall();
    volume.close();
  });

  it('a pause stays the record; the checkpoint only removes its temp file', async () => {
    const tape = join(temp.path, 'pause.aws');
    const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 1 });
    await until(() => gate.opened, 'the checkpoint');
    expect(session.state).toBe('running');
    session.pause();
    expect(recordStatus(tape)).toBe('paused');
    gate.release();
    await sleep(300);
    expect(recordStatus(tape), 'the checkpoint decided before the pause did not land over it').toBe('paused');
    expect(existsSync(`${tape}.session.json.async.tmp`)).toBe(false);
    session.cancel();
    await expect(session.done).rejects.toThrow(/cancelled/);
    expect(recordStatus(tape)).toBe('cancelled');
  }, 60_000);

  it('a cancel ends the session once the checkpoint settled: cancelled, nothing left behind', async () => {
    const tape = join(temp.path, 'cancel.aws');
    const fdsBefore = await settledDescriptors();
    const timersBefore = timers();
    const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 1 });
    await until(() => gate.opened, 'the checkpoint');
    session.cancel();
    let settled = false;
    void session.settled.then(() => (settled = true));
    await sleep(500);
    expect(settled, 'the session waits for its checkpoint in flight').toBe(false);
    gate.release();
    await expect(session.done).rejects.toThrow(/cancelled/);
    expect(session.state).toBe('cancelled');
    expect(recordStatus(tape)).toBe('cancelled');
    expect(volume.interceptorNames()).toEqual([]);
    expect(existsSync(`${tape}.session.json.async.tmp`)).toBe(false);
    expect(await settledDescriptors(), 'descriptors after the cancelled backup').toBe(fdsBefore);
    expect(timers(), 'timers after the cancelled backup').toBeLessThanOrEqual(timersBefore);
  }, 60_000);

  it('a checkpoint that fails while the finished copy waits for it: failed, never recorded completed', async () => {
    const tape = join(temp.path, 'finish.aws');
    const records = watchRecords(tape);
    try {
      // 150 tracks (8.5 MB) at 1.5 MB/s: the copy ends about 0.7 s after the first checkpoint.
      const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 1.5 });
      await until(() => gate.opened, 'the checkpoint');
      expect(Date.now() - Date.parse(JSON.parse(readFileSync(`${tape}.session.json`, 'utf8')).startedAt as string)).toBeGreaterThanOrEqual(
        CHECKPOINT_INTERVAL_MS - 50,
      );
      await until(() => session.state === 'completing', 'the end of the copy');
      await sleep(1_000);
      gate.release(Object.assign(new Error('ENOSPC: no space left on device, open'), { code: 'ENOSPC' }));
      const outcome = await session.done.then(
        () => 'completed',
        () => 'failed',
      );
      expect(outcome).toBe(session.state);
      expect(recordStatus(tape)).toBe(session.state);
      if (session.state === 'failed') expect(records.statuses, 'records written by a backup that failed').not.toContain('completed');
      expect(volume.interceptorNames()).toEqual([]);
    } finally {
      records.stop();
    }
  }, 60_000);
});
