/**
 * This process's open descriptors, for the tests that check a run leaves none behind. The copy
 * pool's threads share the process's table, and a task of the test before may still be closing its
 * file as the next test looks (seen under load as one descriptor more or fewer): a count is read
 * once it has held still.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const FD_DIR = '/proc/self/fd';
/** How long a count must hold still, and the most looks before the last count is taken as it is. */
const STILL_MS = 100;
const MAX_LOOKS = 30;

/** Open descriptors: all of them, or those on `path`. */
export function openDescriptors(path?: string): number {
  const fds = readdirSync(FD_DIR);
  if (path === undefined) return fds.length;
  let count = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(join(FD_DIR, fd)) === path) count++;
    } catch {
      // Closed between the listing and the read: not open.
    }
  }
  return count;
}

/** openDescriptors(path) once it has held still for 100 ms (at most 3 s of looks). */
export async function settledDescriptors(path?: string): Promise<number> {
  let count = openDescriptors(path);
  // Bounded: at most MAX_LOOKS looks, STILL_MS apart.
  for (let look = 0; look < MAX_LOOKS; look++) {
    await new Promise((resolve) => setTimeout(resolve, STILL_MS));
    const now = openDescriptors(path);
    if (now === count) return now;
    count = now;
  }
  return count;
}
