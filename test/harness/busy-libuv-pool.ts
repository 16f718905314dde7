/**
 * Keeps every thread of libuv's pool busy for a while (16 pbkdf2 jobs: the pool has 4 threads
 * unless UV_THREADPOOL_SIZE raises it, at most to 16 here), so that a pwrite queued now stays in
 * flight until they end: the tests of writes landing off the owning thread use it to hold one there.
 */
import { pbkdf2 } from 'node:crypto';

/** Resolves once the jobs that hold the pool have ended. */
export function occupyLibuvPool(): Promise<unknown[]> {
  return Promise.all(Array.from({ length: 16 }, () => new Promise((resolve) => pbkdf2('busy', 'salt', 60_000, 32, 'sha256', (_error, key) => resolve(key)))));
}
