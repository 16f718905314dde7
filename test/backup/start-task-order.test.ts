/**
 * Layer: scenario (issue 22 review). A copy's tasks are queued one per turn of the event loop (each
 * clones the plan on the owning thread), and a backup asks for its finish once the copy ends. The
 * pool runs tasks in the order they were asked for, and promises that a script asked for after a
 * copy's tasks never takes a thread one of them waits for (copy-pool.ts): with three workers the
 * copy's three tasks come first, then the digest pass's task that follows the copy
 * (block-digest-pass.ts), then, once the copy is done, one more digest task per worker (their
 * threads join the pass), and last the finish.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-task-order-');
afterAll(() => temp.cleanup());

type Run = (task: unknown, options?: { name?: string }) => Promise<unknown>;

describe('the tasks a backup queues on its pool', () => {
  it('are the copy tasks of every worker first, then the digest pass, then the finish', async () => {
    makeFilledVolume(temp.path, { cylinders: 4, seed: 22, percent: 100, name: 'src.ckd' }).close();
    const volume = openVolume(join(temp.path, 'src.ckd'));
    const pool = new CopyPool(3);
    // The pool's piscina, watched: which task is asked for in which order.
    const piscina = (pool as unknown as { pool: { run: Run } }).pool;
    const realRun = piscina.run.bind(piscina);
    const asked: string[] = [];
    piscina.run = (task, options) => {
      asked.push(options?.name ?? 'copy');
      return realRun(task, options);
    };
    try {
      const session = TapeBackupSession.start(volume, { tapePath: join(temp.path, 'order.aws'), pool });
      await session.done;
      expect(asked).toEqual(['copy', 'copy', 'copy', 'digestBlocks', 'digestBlocks', 'digestBlocks', 'digestBlocks', 'finishTape']);
    } finally {
      volume.close();
      await pool.close();
    }
  }, 60_000);
});
