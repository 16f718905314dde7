/**
 * A small tmpfs mounted by a test, for real "disk full" cases. Mounting needs privilege: where it is
 * not permitted the tests that need it are skipped, saying so (`mounted` is false).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { makeTempDir, type TempDir } from './temp-dir.js';

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

/** A temp dir with a small tmpfs inside, for the tests of one describe block (mounted before them, gone after). */
export interface DescribeTmpfs {
  /** The block's temp dir (on the normal file system). */
  readonly dir: string;
  /** The tmpfs, inside `dir`. */
  readonly path: string;
  readonly mounted: boolean;
}

/** Registers beforeAll/afterAll that make and remove a temp dir with a tmpfs of `size` at `<dir>/<name>`. */
export function useSmallTmpfs(name: string, size: string, what: string): DescribeTmpfs {
  let dir: TempDir | undefined;
  let tmpfs: SmallTmpfs | undefined;
  beforeAll(() => {
    dir = makeTempDir();
    tmpfs = mountSmallTmpfs(dir.path, name, size, what);
  });
  afterAll(() => {
    tmpfs?.unmount();
    dir?.cleanup();
  });
  return {
    get dir() {
      return (dir as TempDir).path;
    },
    get path() {
      return (tmpfs as SmallTmpfs).path;
    },
    get mounted() {
      return tmpfs?.mounted ?? false;
    },
  };
}
