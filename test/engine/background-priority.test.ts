/**
 * The copy pool's threads run below the thread that owns the volume (issue 17, the host write p99
 * during a backup): with a copy worker on every core, the owning thread's host writes otherwise
 * wait for a core behind the workers (measured: the owning thread runnable but not running for
 * 1-12 ms at a time during a backup's copy). On Linux the nice value is a per-thread attribute, read
 * here from /proc for every thread of this process after a real backup on a pool of two workers.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKGROUND_NICE_STEP } from '../../src/engine/background-priority.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** Nice value of each thread of this process, by thread id. */
function threadNiceValues(): Map<number, number> {
  const values = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    // Fields after the command name (which may hold spaces) start at the state, field 3; nice is field 19.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    values.set(Number(tid), Number(fields[16]));
  }
  return values;
}

let dir: TempDir;
let pool: CopyPool;
/** The threads there were before the pool's. */
let before: Map<number, number>;

beforeAll(() => {
  dir = makeTempDir('snaptape-priority-');
  before = threadNiceValues();
  pool = new CopyPool(2);
});

afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

describe.runIf(process.platform === 'linux')('the copy pool runs at background priority', () => {
  it('lowers each copy worker by BACKGROUND_NICE_STEP, and not the owning thread', async () => {
    const own = getPriority(0);
    const background = Math.min(19, own + BACKGROUND_NICE_STEP);
    const volume = makeFilledVolume(dir.path, { cylinders: 20, seed: 5, percent: 90, name: 'source.ckd' });
    try {
      const session = TapeBackupSession.start(volume, { tapePath: join(dir.path, 'b.aws'), pool });
      await session.done;
      expect(session.copyPath).toBe('worker');
    } finally {
      volume.close();
    }
    const after = threadNiceValues();
    const started = [...after].filter(([tid]) => !before.has(tid)).map(([, nice]) => nice);
    console.log(`owning thread nice ${own}; threads started since the pool was made: ${started.join(', ')}`);
    expect(started.filter((nice) => nice === background).length).toBeGreaterThanOrEqual(2);
    // Lowered once, not once per script it ran (the copy, then the tape's digest and finish).
    expect(started.every((nice) => nice === own || nice === background)).toBe(true);
    expect(getPriority(0)).toBe(own);
  });
});
