/**
 * Layers: CLI (`snaptape completion`). The scripts come from commander's command tree: bash parses
 * the bash script (`bash -n`), and completing in a real bash offers the commands, subcommands and
 * options the tree has; a command added to the tree is completed too.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bashCompletion } from '../../src/cli/shell-completion.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runInProcess } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let script: string;
beforeAll(async () => {
  dir = makeTempDir();
  const r = await runInProcess(['completion', 'bash']);
  expect(r.status, r.stderr).toBe(0);
  script = join(dir.path, 'snaptape.bash');
  writeFileSync(script, r.stdout);
});
afterAll(() => dir.cleanup());

/** What bash offers for the command line `words` (the last word is the one being completed). */
function complete(scriptPath: string, words: readonly string[]): string[] {
  const program = `source '${scriptPath}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _snaptape; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', program], { encoding: 'utf8', cwd: dir.path })
    .split('\n')
    .filter((l) => l.length > 0);
}

describe('snaptape completion', () => {
  it('bash accepts the bash script', () => {
    const r = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('completes commands, subcommands and options from the tree', () => {
    expect(complete(script, ['snaptape', 'ba'])).toEqual(['backup']);
    expect(complete(script, ['snaptape', 'in'])).toEqual(['init', 'info']);
    expect(complete(script, ['snaptape', 'tape', 'p'])).toEqual(['put']);
    expect(complete(script, ['snaptape', 'tape', 'put', 'x.aws', '--d'])).toEqual(['--dsn']);
    expect(complete(script, ['snaptape', 'backup', 'a.ckd', '--to', 'a.aws', '--log-'])).toEqual(['--log-level', '--log-file']);
    expect(complete(script, ['snaptape', 'verify', '--q'])).toEqual(['--quiet']);
    // Hidden commands stay hidden.
    expect(complete(script, ['snaptape', 'snapshot', 'c'])).toEqual([]);
  });

  it('follows the tree: a new command completes without a change to the generator', () => {
    const program = new Command('snaptape');
    program.command('frobnicate <x>').option('--wibble');
    const path = join(dir.path, 'other.bash');
    writeFileSync(path, bashCompletion(program));
    expect(complete(path, ['snaptape', 'frob'])).toEqual(['frobnicate']);
    expect(complete(path, ['snaptape', 'frobnicate', '--w'])).toEqual(['--wibble']);
  });

  it('the zsh script loads the same function through bashcompinit', async () => {
    const r = await runInProcess(['completion', 'zsh']);
    expect(r.stdout.split('\n')[0]).toBe('#compdef snaptape');
    expect(r.stdout).toContain('bashcompinit');
    expect(r.stdout).toContain('complete -o default -F _snaptape snaptape');
    const bad = await runInProcess(['completion', 'fish']);
    expect(bad.status).toBe(EXIT_STATUS_BY_CODE.USAGE);
  });
});
