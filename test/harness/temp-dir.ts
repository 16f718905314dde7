/**
 * Each test writes only under its own temporary directory, made with `tmp` and removed afterwards.
 */
import tmp from 'tmp';

tmp.setGracefulCleanup();

export interface TempDir {
  readonly path: string;
  cleanup(): void;
}

export function makeTempDir(prefix = 'snaptape-test-'): TempDir {
  const dir = tmp.dirSync({ prefix, unsafeCleanup: true });
  return { path: dir.name, cleanup: () => dir.removeCallback() };
}
