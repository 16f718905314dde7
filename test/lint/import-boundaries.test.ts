/**
 * The import-boundary check (`npm run depcheck`, part of `npm run lint`) must fail on a forbidden
 * arrow, not only pass. Each case copies src/, the dependency-cruiser config and tsconfig.json
 * into a temp dir, adds imports that the rules forbid, runs
 * dependency-cruiser there exactly as the npm script does, and expects a non-zero exit that names
 * the rule. The unmodified copy must pass, so a failure is caused by the added arrow alone.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DEPCRUISE = join(REPO, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const CONFIG = '.dependency-cruiser.cjs';

/** The arguments of `npm run depcheck`, read from package.json so the test runs what CI runs. */
function depcheckArgs(): string[] {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts['depcheck'];
  if (script === undefined || !script.startsWith('depcruise ')) throw new Error('package.json has no "depcheck": "depcruise …" script');
  return script.slice('depcruise '.length).split(/\s+/);
}

/** A fresh copy of what the check reads. */
function copyProject(dir: string): void {
  cpSync(join(REPO, 'src'), join(dir, 'src'), { recursive: true });
  for (const file of [CONFIG, 'tsconfig.json', 'package.json']) cpSync(join(REPO, file), join(dir, file));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
}

function runCheck(dir: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [DEPCRUISE, ...depcheckArgs()], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('import boundaries (dependency-cruiser)', () => {
  let temp: TempDir;
  beforeAll(() => {
    temp = makeTempDir('snaptape-depcheck-');
  });
  afterAll(() => temp.cleanup());

  it('passes on the unmodified tree', () => {
    const dir = join(temp.path, 'clean');
    copyProject(dir);
    const run = runCheck(dir);
    expect(run.output).toContain('no dependency violations found');
    expect(run.status).toBe(0);
  });

  it('fails on a new forbidden arrow and on a new cycle, naming each rule', () => {
    const dir = join(temp.path, 'forbidden');
    copyProject(dir);
    // An upward arrow: base/ is layer 1, cli/ the top.
    appendFileSync(join(dir, 'src/base/assert.ts'), "\nexport { printResult as unusedFromCli } from '../cli/cli-output.js';\n");
    // A runtime cycle: ebcdic.ts and prng.ts are both in base/ and neither imports the other today.
    appendFileSync(join(dir, 'src/base/ebcdic.ts'), "\nimport './prng.js';\n");
    appendFileSync(join(dir, 'src/base/prng.ts'), "\nimport './ebcdic.js';\n");
    const run = runCheck(dir);
    expect(run.status).not.toBe(0);
    expect(run.output).toMatch(/nothing-imports-cli: src\/base\/assert\.ts → src\/cli\/cli-output\.ts/);
    expect(run.output).toMatch(/no-circular: src\/base\/(ebcdic|prng)\.ts/);
  });
});
