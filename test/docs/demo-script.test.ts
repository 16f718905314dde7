/**
 * `npm run demo` (images/demo.sh) is the README's first command: it runs here, in its own temp
 * folder (SNAPTAPE_DEMO_DIR), and tells the story it says it tells: a backup under a host writer
 * (tracks copied out of order), a tape that verifies, a restore equal to the volume at the backup's
 * start instant while the live volume has moved on, and the text data set back intact.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir('snaptape-demo-');
});
afterAll(() => dir.cleanup());

describe('npm run demo', () => {
  it('backs up under load, verifies, restores the start instant while the volume moved on', () => {
    const imagesBefore = readdirSync(join(REPO, 'images')).sort();
    const run = spawnSync('bash', [join(REPO, 'images', 'demo.sh')], {
      encoding: 'utf8',
      env: { ...process.env, SNAPTAPE_DEMO_DIR: dir.path },
      timeout: 240_000,
    });
    expect(run.status, run.stderr + run.stdout.slice(-2000)).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/copied in order \d+, out of order [1-9]\d*/);
    expect(out).toMatch(/demo\.aws: tape TDEMO0, source 3390 DEMO01: OK/);
    expect(out).toMatch(/demo-at-start\.ckd vs demo-restored\.ckd: 4500 units, 0 mismatched/);
    expect(out).toContain('the live volume has moved on since; the tape holds the start instant');
    expect(out).toContain('PROD.PAYROLL.TEXT restored intact');
    expect(out).toContain(`Demo complete: files are in ${dir.path}`);
    // It wrote only in its own folder.
    expect(readdirSync(join(REPO, 'images')).sort()).toEqual(imagesBefore);
  }, 300_000);
});
