/**
 * The README's tour is a test (issue 18.7): its `sh` block, taken from README.md as it stands, runs
 * line by line in order in an empty temp folder under `bash -euo pipefail`, with the repository's
 * bin/ beside it (the tour says `B=./bin/snaptape`). Every command must succeed as written; the
 * background server is stopped where the tour stops it. A few files the tour says it makes are
 * checked afterwards.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** The first ```sh block after the "## A tour" heading. */
export function tourScript(readme: string): string {
  const section = readme.indexOf('\n## A tour\n');
  if (section < 0) throw new Error('README.md has no "## A tour" section');
  const start = readme.indexOf('```sh\n', section);
  const end = readme.indexOf('\n```', start + 6);
  if (start < 0 || end < 0) throw new Error('the tour section has no ```sh block');
  return readme.slice(start + 6, end + 1);
}

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir('snaptape-tour-');
});
afterAll(() => dir.cleanup());

describe('the README tour', () => {
  it('runs as written, every line in order', () => {
    const script = tourScript(readFileSync(join(REPO, 'README.md'), 'utf8'));
    expect(script).toMatch(/^B=\.\/bin\/snaptape/);
    symlinkSync(join(REPO, 'bin'), join(dir.path, 'bin'));
    // set -x: the log names the line that failed.
    writeFileSync(join(dir.path, 'tour.sh'), `set -x\n${script}`);
    const run = spawnSync('bash', ['-euo', 'pipefail', 'tour.sh'], {
      cwd: dir.path,
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, NO_COLOR: '1' },
    });
    const tail = `${run.stdout.slice(-3000)}\n--- stderr ---\n${run.stderr.slice(-3000)}`;
    expect(run.status, tail).toBe(0);
    for (const made of ['full.aws', 'copy.ckd', 'other.ckd', 'live.aws', 'clone.svg', 'src.cckd', 'report.html', 'map.svg', 'snaptape.db']) {
      expect(existsSync(join(dir.path, made)), made).toBe(true);
    }
    // The server was stopped where the tour says: its lock and socket are gone.
    expect(existsSync(join(dir.path, 'src.ckd.lock'))).toBe(false);
    expect(existsSync(join(dir.path, 'src.ckd.nbd.sock'))).toBe(false);
    // What the tour put is what Hercules read back.
    expect(run.stdout).toMatch(/EMPLOYEE 00001 SALARY 0052000/);
  }, 600_000);
});
