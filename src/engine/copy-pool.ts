/**
 * The pool of copy workers (piscina). Its worker script is the compiled copy-worker.js in dist/,
 * also when the engine itself runs from the TypeScript sources (under vitest).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { UsageError } from '../errors/snaptape-error.js';
import type { CopyTask, CopyTaskResult } from './copy-task.js';
import type { FinishTapeResult, FinishTapeTask } from './finish-tape-task.js';
import type { UnitCopyResult, UnitCopyTask } from './unit-copy.js';

/** More workers than this buy nothing on these machines and cost memory. */
export const MAX_COPY_WORKERS = 16;

export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(MAX_COPY_WORKERS, availableParallelism()));
}

/** Path of a compiled engine script, from dist/ whether this module runs compiled or from src/. */
export function engineScriptPath(fileName: string): string {
  const here = fileURLToPath(import.meta.url);
  const compiledDir = here.endsWith('.ts') ? join(dirname(here), '..', '..', 'dist', 'engine') : dirname(here);
  const path = join(compiledDir, fileName);
  if (!existsSync(path)) throw new UsageError(`Cannot start copy workers: ${path} is missing (run npm run build)`);
  return path;
}

export class CopyPool {
  private readonly pool: Piscina;
  readonly workers: number;

  constructor(workers: number) {
    if (!Number.isInteger(workers) || workers < 1 || workers > MAX_COPY_WORKERS) {
      throw new UsageError(`Cannot use ${workers} workers: choose 1-${MAX_COPY_WORKERS}`);
    }
    this.workers = workers;
    this.pool = new Piscina({ filename: engineScriptPath('copy-worker-entry.cjs'), minThreads: workers, maxThreads: workers, idleTimeout: 60_000 });
  }

  run(task: CopyTask): Promise<CopyTaskResult> {
    return this.pool.run(task) as Promise<CopyTaskResult>;
  }

  /** Hashes, labels and verifies a finished tape on a worker thread. */
  finishTape(task: FinishTapeTask): Promise<FinishTapeResult> {
    return this.pool.run(task, { name: 'finishTape' }) as Promise<FinishTapeResult>;
  }

  /** Copies units from one image to another (a clone's background copy, unit-copy-worker.ts). */
  copyUnits(task: UnitCopyTask): Promise<UnitCopyResult> {
    return this.pool.run(task, { name: 'copyUnits' }) as Promise<UnitCopyResult>;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
