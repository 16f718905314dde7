/**
 * docs/cli.md is commander's help of every command (scripts/cli-reference.mjs, `npm run docs`):
 * this fails when a command, option or description changed and the page was not regenerated.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PAGE = join(REPO, 'docs', 'cli.md');

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

function check(file: string): { status: number; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'cli-reference.mjs'), '--check', file], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stderr: r.stderr };
}

describe('docs/cli.md', () => {
  it('is what the help of every command says now (run npm run docs if not)', () => {
    const r = check(PAGE);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('covers every top-level command, and a page with one option line changed is stale', () => {
    const page = readFileSync(PAGE, 'utf8');
    for (const command of ['init', 'backup', 'restore', 'serve', 'tape ls', 'clone activate', 'pool ls']) expect(page).toContain(`## snaptape ${command}\n`);
    const stale = join(dir.path, 'cli.md');
    writeFileSync(stale, page.replace('--json', '--jsonx'));
    const r = check(stale);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is stale');
  });
});
