/**
 * A small tmpfs mounted by a test, for real "disk full" cases. Mounting needs privilege: where it is
 * not permitted the tests that need it are skipped, saying so (`mounted` is false).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface SmallTmpfs {
  readonly path: string;
  readonly mounted: boolean;
  unmount(): void;
}

/** Mounts a tmpfs of `size` (mount's syntax: 64k, 2m) at `<parent>/<name>`; `what` names the tests skipped without it. */
export function mountSmallTmpfs(parent: string, name: string, size: string, what: string): SmallTmpfs {
  const path = join(parent, name);
  mkdirSync(path);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { encoding: 'utf8' });
  const mounted = r.status === 0;
  if (!mounted) console.warn(`skipping ${what}: mount is not permitted here (${(r.stderr ?? String(r.error)).trim()})`);
  return {
    path,
    mounted,
    unmount: () => {
      if (mounted) spawnSync('umount', [path]);
    },
  };
}
