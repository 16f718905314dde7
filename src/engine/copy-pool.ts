/**
 * The pool of copy workers (piscina). A copy runs as one task per worker, all of the same plan,
 * taking batches from its shared cursor. Other long steps that must not block the owning thread
 * (a tape's finish: its labels, sync and read-back) run on the pool as a script of their own
 * (`runScript`), on a worker's thread. Tasks start in the order they were asked for, so a script
 * asked for after a copy's tasks never holds a thread they wait for.
 * Worker scripts are the compiled files in dist/, also when the engine itself runs from the
 * TypeScript sources (under vitest).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { UsageError } from '../errors/snaptape-error.js';
import type { CopyResult, FileCopyPlan } from './copy-plan.js';
import { combineResults } from './copy-loop.js';

/** More workers than this buy nothing on these machines and cost memory. */
export const MAX_COPY_WORKERS = 16;

/** A copy worker per core, less `reserved` cores for threads of the technique's own beside the copy. */
export function defaultWorkerCount(reserved = 0): number {
  return Math.max(1, Math.min(MAX_COPY_WORKERS, availableParallelism() - reserved));
}

export interface CopyPoolOptions {
  /**
   * Threads beyond the copy workers, for a technique's own tasks beside a copy (`runScript`): a
   * tape backup's digest pass. 0 by default: with a copy worker on every core, a thread more took
   * its time from the copy and from the host's writes (measured on 2 cores: host write p99 during a
   * backup 1.4-2.6x, copy phase 1.2x), so a technique that asks for one also takes a worker less
   * (defaultWorkerCount's `reserved`).
   */
  readonly sideThreads?: number;
}

const SRC_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Path of the compiled script `fileName` next to the module `moduleUrl`, in dist/ whether that
 * module runs compiled or from src/.
 */
export function compiledScriptPath(moduleUrl: string, fileName: string): string {
  const here = fileURLToPath(moduleUrl);
  const folder = dirname(here);
  const compiledDir = here.endsWith('.ts') ? join(SRC_ROOT, '..', 'dist', relative(SRC_ROOT, folder)) : folder;
  const path = join(compiledDir, fileName);
  if (!existsSync(path)) throw new UsageError(`Cannot start copy workers: ${path} is missing (run npm run build)`);
  return path;
}

export class CopyPool {
  private readonly pool: Piscina;
  readonly workers: number;
  /** Resolves once the tasks of every copy asked for so far are queued. */
  private queuing: Promise<void> = Promise.resolve();

  constructor(workers: number, options: CopyPoolOptions = {}) {
    if (!Number.isInteger(workers) || workers < 1 || workers > MAX_COPY_WORKERS) {
      throw new UsageError(`Cannot use ${workers} workers: choose 1-${MAX_COPY_WORKERS}`);
    }
    const sideThreads = options.sideThreads ?? 0;
    if (!Number.isInteger(sideThreads) || sideThreads < 0 || sideThreads > MAX_COPY_WORKERS) {
      throw new UsageError(`Cannot start ${sideThreads} threads beside the copy workers: choose 0-${MAX_COPY_WORKERS}`);
    }
    this.workers = workers;
    this.pool = new Piscina({
      filename: compiledScriptPath(import.meta.url, 'copy-worker-entry.cjs'),
      minThreads: workers + sideThreads,
      maxThreads: workers + sideThreads,
      idleTimeout: 60_000,
    });
  }

  /** Copies a plan on every worker at once; resolves when all of them ran out of batches. */
  async copy(plan: FileCopyPlan): Promise<CopyResult> {
    const runs: Promise<CopyResult>[] = [];
    let queued = (): void => undefined;
    const queuing = new Promise<void>((resolve) => (queued = resolve));
    this.queuing = this.queuing.then(() => queuing);
    try {
      for (let w = 0; w < this.workers; w++) {
        // Each task clones the plan on this thread (MBs for a 3390-3): one per turn of the event
        // loop, so that a host write on this thread waits behind one at most.
        if (w > 0) await nextTurn();
        const run = this.pool.run(plan) as Promise<CopyResult>;
        run.catch(() => undefined); // Observed by Promise.all below; not unhandled meanwhile.
        runs.push(run);
      }
    } finally {
      queued();
    }
    return combineResults(await Promise.all(runs));
  }

  /**
   * Runs `name` of a compiled worker script (compiledScriptPath) on one of the pool's threads. Asked
   * for while a copy's tasks are still being queued (one per turn), it is queued after the last of
   * them: it never takes a thread one of them waits for.
   */
  async runScript<T, R>(filename: string, name: string, task: T): Promise<R> {
    await this.queuing;
    return (await this.pool.run(task, { filename, name })) as R;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
