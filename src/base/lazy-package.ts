/**
 * A CommonJS package loaded on its first use instead of when its module is imported. The CLI
 * imports the library's whole public face for every command, so a package imported at the top of
 * any module is loaded by every command's start, used or not: a latency histogram, a logger, a
 * bzip2 codec, fs-extra and SQLite cost a backup about 0.2 s of its start on 2 cores
 * (bench/RESULTS.md section 1b). Also for packages that must stay out of worker threads until used
 * (a native addon, image-lock.ts).
 */
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/** A function that returns the package `name`, requiring it the first time it is called. */
export function lazyPackage<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(name) as T);
}
