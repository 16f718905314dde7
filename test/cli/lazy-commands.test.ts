/**
 * Lazy command loading (issue 19): `snaptape --help` and `--version` import no command module and
 * none of the library, yet `--help` lists every command as registering them all would, and
 * `snaptape <cmd> --help` still shows that command's full options. Which modules a run imported is
 * recorded by a module-loader hook in the child process, so the test sees real imports.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_MODULES } from '../../src/cli/commands/index.js';
import { createProgram } from '../../src/cli/main.js';
import { runSnaptape, SNAPTAPE_BIN } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir('snaptape-lazy-');
});
afterAll(() => dir.cleanup());

/** A loader hook that appends each module URL the process loads to the file named by LOADED_LOG. */
const RECORD_HOOK = `
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.LOADED_LOG, url + '\\n');
  return next(url, context);
}`;
/** The hook, and at exit the CommonJS files the process required (a package loaded with createRequire passes no hook). */
const REGISTER_HOOK = `import { createRequire, register } from 'node:module';
import { appendFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(RECORD_HOOK)}`)});
const required = createRequire('/').cache;
process.on('exit', () => appendFileSync(process.env.LOADED_LOG, Object.keys(required).map((path) => pathToFileURL(path).href + '\\n').join('')));`;

let runs = 0;
/** Runs bin/snaptape with `args`; returns its output, the dist/ modules it loaded (relative paths) and every module URL. */
function runRecorded(args: readonly string[]): { status: number; stdout: string; distModules: string[]; urls: string[] } {
  const log = join(dir.path, `loaded-${runs++}.txt`);
  const run = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER_HOOK)}`, SNAPTAPE_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', LOADED_LOG: log },
  });
  const urls = readFileSync(log, 'utf8').split('\n');
  const distModules = urls.filter((url) => url.includes('/dist/')).map((url) => url.slice(url.indexOf('/dist/') + 6));
  return { status: run.status ?? -1, stdout: run.stdout, distModules, urls };
}

describe('lazy command loading', () => {
  it('--version and --help load no command module and nothing of the library', () => {
    for (const args of [['--version'], ['--help']]) {
      const run = runRecorded(args);
      expect(run.status).toBe(0);
      expect(run.distModules.length, run.distModules.join(' ')).toBeGreaterThan(0);
      expect(run.distModules.filter((path) => !path.startsWith('cli/') && !path.startsWith('errors/'))).toEqual([]);
      expect(run.distModules.filter((path) => /^cli\/commands\/(?!index\.js)/.test(path))).toEqual([]);
    }
  });

  it('a command loads its own module and not the others', () => {
    const run = runRecorded(['init', '--help']);
    expect(run.status).toBe(0);
    expect(run.distModules).toContain('cli/commands/init-command.js');
    expect(run.distModules).not.toContain('cli/commands/backup-command.js');
    expect(run.stdout).toMatch(/Usage: snaptape init \[options\] <image>/);
  });

  it('a backup does not load the packages only other commands or options use (about 0.45 s of its start)', () => {
    const image = join(dir.path, 'sdk.ckd');
    expect(runSnaptape(['init', image, '--type', '3390', '--cyls', '2', '--volser', 'SDK001']).status).toBe(0);
    const run = runRecorded(['backup', image, '--to', join(dir.path, 'sdk.aws'), '--json']);
    expect(run.status).toBe(0);
    expect(run.distModules).toContain('cli/commands/backup-command.js');
    // The vault's SDK; --load's histogram; --log-level's logger; CCKD's bzip2 encoder and decoder; scratch copies' and the
    // vault's fs-extra; the catalog's SQLite.
    for (const unused of ['@aws-sdk', 'hdr-histogram-js', 'pino', 'compressjs', 'seek-bzip', 'fs-extra', 'better-sqlite3'])
      expect(run.urls.filter((url) => url.includes(`/node_modules/${unused}/`))).toEqual([]);
  });

  it('<cmd> --help and help <cmd> show the full options of the command, as eager registration does', async () => {
    const eager = new Command('snaptape');
    for (const module of COMMAND_MODULES) for (const register of await module.load()) register(eager);
    for (const path of [['backup'], ['tape', 'ls']]) {
      let expected: Command = eager;
      for (const name of path) expected = expected.commands.find((command) => command.name() === name) as Command;
      const optionFlags = expected.options.map((option) => option.long ?? option.short);
      expect(optionFlags.length, path.join(' ')).toBeGreaterThan(0);
      // Commander's `help` takes one command name: `help tape ls` shows the help of `tape`.
      for (const args of path.length === 1
        ? [
            [...path, '--help'],
            ['help', ...path],
          ]
        : [[...path, '--help']]) {
        const run = runSnaptape(args);
        expect(run.status, args.join(' ')).toBe(0);
        for (const flag of optionFlags) expect(run.stdout, `${args.join(' ')}: ${flag}`).toContain(flag);
      }
    }
  });

  it('--help lists every command with the same usage and description as registering them all', async () => {
    const eager = new Command('snaptape');
    for (const module of COMMAND_MODULES) for (const register of await module.load()) register(eager);
    const lazy = await createProgram([]);
    const help = lazy.createHelp();
    const eagerHelp = eager.createHelp();
    const listed = (program: Command, using: typeof help) =>
      using.visibleCommands(program).map((command) => `${using.subcommandTerm(command)} :: ${using.subcommandDescription(command)}`);
    expect(listed(lazy, help).filter((line) => !line.startsWith('help '))).toEqual(listed(eager, eagerHelp).filter((line) => !line.startsWith('help ')));
  });

  it('an unknown command is still refused with a usage error', () => {
    const run = runRecorded(['no-such-command']);
    expect(run.status).not.toBe(0);
  });
});
