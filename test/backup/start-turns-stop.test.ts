/**
 * Layer: scenario (issue 22 review). After a backup's start instant, its first record, the pool's
 * start and the copy's tasks run in turns of the event loop of their own. A cancel in any of those
 * turns, or a pool that cannot run the copy, ends the session in one clear state: its promise
 * settles once (no unhandled rejection), its record says so, the copy-before-write interceptor is
 * gone, and no descriptor, timer or temp file is left behind.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { settledDescriptors } from '../harness/open-descriptors.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-turns-stop-');
afterAll(() => temp.cleanup());

const recordStatus = (tape: string): string => (JSON.parse(readFileSync(`${tape}.session.json`, 'utf8')) as { status: string }).status;
type Run = (task: unknown, options?: { name?: string }) => Promise<unknown>;
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Rejections nobody handled while a test ran (the process would die of one outside vitest). */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

describe('a backup stopped in the turns after its start', () => {
  let volume: Volume;
  let pool: CopyPool;
  beforeAll(() => {
    makeFilledVolume(temp.path, { cylinders: 4, seed: 22, percent: 100, name: 'src.ckd' }).close();
    // Its threads are started once: the descriptors counted below are the session's own.
    pool = new CopyPool(2);
  });
  afterAll(async () => {
    await pool.close();
  });
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
    volume = openVolume(join(temp.path, 'src.ckd'));
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
    volume.close();
  });

  it.each([0, 1, 2, 3, 4, 6])(
    'cancelled after %i turns: cancelled, and nothing left behind',
    async (turns) => {
      const tape = join(temp.path, `cancel-${turns}.aws`);
      const fdsBefore = await settledDescriptors();
      const timersBefore = timers();
      const session = TapeBackupSession.start(volume, { tapePath: tape, pool, throttleMbps: 2 });
      for (let t = 0; t < turns; t++) await nextTurn();
      session.cancel();
      await expect(session.done).rejects.toThrow(/cancelled/);
      expect(session.state).toBe('cancelled');
      expect(recordStatus(tape)).toBe('cancelled');
      expect(volume.interceptorNames()).toEqual([]);
      expect(existsSync(`${tape}.session.json.async.tmp`)).toBe(false);
      // A leak stays; a descriptor of another thread that closes late does not.
      expect(await settledDescriptors(), 'descriptors after the cancelled backup').toBeLessThanOrEqual(fdsBefore);
      expect(timers(), 'timers after the cancelled backup').toBeLessThanOrEqual(timersBefore);
      expect(unhandled).toEqual([]);
    },
    60_000,
  );

  it('on a pool destroyed as the copy starts: failed once, with no unhandled rejection', async () => {
    const dying = new CopyPool(1);
    // The pool is destroyed right after it queued the copy's task: that task is rejected at once,
    // in the turns before the session awaits the copy.
    const piscina = (dying as unknown as { pool: { run: Run; destroy(): Promise<void> } }).pool;
    const realRun = piscina.run.bind(piscina);
    piscina.run = (task, options) => {
      const run = realRun(task, options);
      if (options === undefined) queueMicrotask(() => void piscina.destroy());
      return run;
    };
    const tape = join(temp.path, 'dying-pool.aws');
    const session = TapeBackupSession.start(volume, { tapePath: tape, pool: dying });
    await expect(session.done).rejects.toThrow();
    // A rejection is reported once the turn it happened in is over.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unhandled, 'rejections nobody handled').toEqual([]);
    expect(session.state).toBe('failed');
    expect(recordStatus(tape)).toBe('failed');
    expect(volume.interceptorNames()).toEqual([]);
  }, 60_000);
});
