/**
 * Layers: CLI (every command). Each command that takes `--json` prints exactly one JSON document on
 * stdout, whether it succeeds or fails, and nothing on stderr that looks like a second one. The
 * commands are enumerated from commander's command tree, so a new `--json` command fails this test
 * until it has a success case here or is named as one that needs a running server.
 *
 * The commands run in this process (run-cli-in-process.ts) so that fifty of them take seconds.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFullProgram } from '../../src/cli/main.js';
import type { CliResult as Captured } from '../harness/run-cli.js';
import { runInProcess as runCaptured } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** Parses stdout as exactly one JSON document (JSON.parse refuses two, or trailing text). */
function oneDocument(r: Captured, what: string): unknown {
  expect(r.stdout.trim().length, `${what}: stdout is empty (stderr: ${r.stderr})`).toBeGreaterThan(0);
  let doc: unknown;
  expect(() => (doc = JSON.parse(r.stdout)), `${what}: stdout is not one JSON document:\n${r.stdout}`).not.toThrow();
  for (const line of r.stderr.split('\n')) expect(line.trim(), `${what}: stderr carries JSON: ${line}`).not.toMatch(/^[{[]/);
  return doc;
}

/** Every command path (e.g. "tape put") whose command takes --json, with the command. */
async function jsonCommands(): Promise<Map<string, Command>> {
  const program = await createFullProgram();
  const found = new Map<string, Command>();
  const walk = (command: Command, path: string[]): void => {
    for (const sub of command.commands) {
      const subPath = [...path, sub.name()];
      if (sub.options.some((o) => o.long === '--json')) found.set(subPath.join(' '), sub);
      walk(sub, subPath);
    }
  };
  walk(program, []);
  return found;
}

let dir: TempDir;
let d: (name: string) => string;
/** JSON results of earlier success cases, for the cases that need a token they gave. */
const results = new Map<string, Record<string, unknown>>();

/** Success cases, run in this order (later ones use the files earlier ones made). */
const SUCCESS: readonly (readonly [string, () => string[]])[] = [
  ['init', () => ['init', d('a.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'VOLA']],
  ['alloc', () => ['alloc', d('a.ckd'), 'TEST.DATA', '--tracks', '1']],
  ['put', () => ['put', d('a.ckd'), 'TEST.DATA', d('host.txt'), '--text']],
  ['get', () => ['get', d('a.ckd'), 'TEST.DATA', d('got.txt'), '--text']],
  ['ls', () => ['ls', d('a.ckd')]],
  ['delete', () => ['delete', d('a.ckd'), 'TEST.DATA']],
  ['fill', () => ['fill', d('a.ckd'), '--percent', '10']],
  ['track', () => ['track', d('a.ckd'), '--checkpoint', 'before']],
  ['backup', () => ['backup', d('a.ckd'), '--to', d('a.aws')]],
  ['verify', () => ['verify', d('a.aws')]],
  ['restore', () => ['restore', d('a.aws'), '--to', d('b.ckd'), '--new-volume']],
  ['backup (incremental)', () => ['backup', d('a.ckd'), '--to', d('a-inc.aws'), '--incremental']],
  ['verify (chain)', () => ['verify', '--chain', d('a.aws'), d('a-inc.aws')]],
  ['restore (chain)', () => ['restore', d('a.aws'), d('a-inc.aws'), '--to', d('b2.ckd'), '--new-volume']],
  ['compare', () => ['compare', d('a.ckd'), d('b.ckd')]],
  ['info', () => ['info', d('a.aws')]],
  ['map', () => ['map', d('a.aws')]],
  ['convert', () => ['convert', d('a.ckd'), d('a.cckd'), '--format', 'cckd']],
  ['check', () => ['check', d('a.cckd')]],
  ['drill', () => ['drill', d('b.ckd'), '--load', 'random:50']],
  ['init (clone target)', () => ['init', d('c.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'VOLC']],
  ['clone run', () => ['clone', 'run', d('a.ckd'), d('c.ckd')]],
  ['tape init', () => ['tape', 'init', d('t.aws'), '--volser', 'T1']],
  ['tape put', () => ['tape', 'put', d('t.aws'), d('host.txt'), '--dsn', 'HOST.TEXT', '--text']],
  ['tape ls', () => ['tape', 'ls', d('t.aws')]],
  ['tape get', () => ['tape', 'get', d('t.aws'), '1', d('tape-got.txt')]],
  ['subsystem init', () => ['subsystem', 'init', d('sub'), '--type', '3390']],
  ['subsystem check', () => ['subsystem', 'check', d('sub')]],
  ['subsystem usage', () => ['subsystem', 'usage', d('sub')]],
  ['init --mapped', () => ['init', join(d('sub'), 'm1'), '--type', '3390', '--cyls', '3', '--volser', 'M1', '--mapped']],
  ['snapshot', () => ['snapshot', join(d('sub'), 'm1'), join(d('sub'), 'm2'), '--volser', 'M2']],
  ['snapshot define', () => ['snapshot', 'define', join(d('sub'), 'm1'), join(d('sub'), 'm3'), '--volser', 'M3']],
  ['snapshot execute', () => ['snapshot', 'execute', String(results.get('snapshot define')?.['token'])]],
  ['snapshot status', () => ['snapshot', 'status', String(results.get('snapshot execute')?.['pollingToken'])]],
  ['pool create', () => ['pool', 'create', 'SRC', '--role', 'source']],
  ['pool add', () => ['pool', 'add', 'SRC', d('a.ckd')]],
  ['pool ls', () => ['pool', 'ls']],
  ['pool remove', () => ['pool', 'remove', 'SRC', d('a.ckd')]],
  ['version ls', () => ['version', 'ls']],
  ['library init', () => ['library', 'init', d('lib'), '--cartridges', '3', '--drives', '1']],
  ['library pool', () => ['library', 'pool', d('lib'), 'W', '--range', 'A00003-A00003', '--worm']],
  ['library ls', () => ['library', 'ls', d('lib')]],
  ['library mount', () => ['library', 'mount', d('lib'), 'A00002']],
  ['library unmount', () => ['library', 'unmount', d('lib'), 'A00002']],
  ['library eject', () => ['library', 'eject', d('lib'), 'A00002', '--to', d('shelf')]],
  ['library inject', () => ['library', 'inject', d('lib'), join(d('shelf'), 'A00002.aws')]],
  ['library expire', () => ['library', 'expire', d('lib')]],
  ['clone status', () => ['clone', 'status', '--target', d('c.ckd')]],
];

/** Commands that need a running `snaptape serve` daemon or a version pair set up: their failure case only. */
const FAILURE_ONLY = new Set([
  'serve',
  'sessions',
  'session',
  'mirror create',
  'mirror status',
  'mirror split',
  'mirror rejoin',
  'mirror remove',
  'mirror backup',
  'clone create',
  'clone precopy',
  'clone activate',
  'clone terminate',
  'clone list',
  'clone resume',
  'version prepair',
  'version unprepair',
  'version create',
  'version show',
  'version restore',
  // They need an S3 server (test/vault runs them against radosgw).
  'library vault',
  'library recall',
]);

/**
 * A call that cannot work: every argument a missing file, every required option a missing value or
 * file, and a catalog (where a command takes one) in a folder that does not exist.
 */
function failingCall(path: string, command: Command): string[] {
  const args = [...path.split(' ')];
  command.registeredArguments.forEach((a, i) => {
    if (a.required) args.push(d(`missing-${i}`));
  });
  for (const option of command.options) {
    if (option.long === '--catalog') args.push('--catalog', d('missing-dir/snaptape.db'));
    if (!option.mandatory || option.long === undefined) continue;
    args.push(option.long, option.long === '--server' ? d('no-server.sock') : d('missing-option'));
  }
  return args;
}

beforeAll(() => {
  dir = makeTempDir();
  d = (name) => join(dir.path, name);
  writeFileSync(d('host.txt'), 'HELLO\nWORLD\n');
  process.env['SNAPTAPE_CATALOG'] = d('snaptape.db');
});
afterAll(() => {
  delete process.env['SNAPTAPE_CATALOG'];
  dir.cleanup();
});

/** The whole command tree, every module loaded (the CLI itself loads only the command it runs). */
const jsonCommandTree = await jsonCommands();

describe('--json prints exactly one JSON document', () => {
  const commands = jsonCommandTree;

  it('covers every command that takes --json', () => {
    const covered = new Set([...SUCCESS.map(([name]) => name), ...FAILURE_ONLY]);
    const missing = [...commands.keys()].filter((name) => !covered.has(name));
    expect(missing, 'commands with --json and no case here').toEqual([]);
  });

  it('on success, for every command that can run without a server', async () => {
    for (const [name, args] of SUCCESS) {
      const r = await runCaptured([...args(), '--json']);
      expect(r.status, `${name}: ${r.stderr}`).toBe(0);
      const doc = oneDocument(r, name);
      results.set(name, doc as Record<string, unknown>);
    }
  });

  it('on failure, for every command, as one {"error"} document', async () => {
    for (const [name, command] of commands) {
      const args = failingCall(name, command);
      const r = await runCaptured([...args, '--json']);
      expect(r.status, `${name} should fail: ${r.stdout}`).not.toBe(0);
      const doc = oneDocument(r, `${name} (failing)`) as { error?: { code?: string; message?: string } };
      expect(doc.error?.code, `${name}: ${r.stdout}`).toMatch(/^[A-Z_]+$/);
      expect(doc.error?.message).toMatch(/^Cannot /);
    }
  });

  it('on a usage error commander finds (missing argument, unknown option)', async () => {
    for (const args of [
      ['ls', '--json'],
      ['ls', d('a.ckd'), '--json', '--no-such-flag'],
    ]) {
      const r = await runCaptured(args);
      expect(r.status).toBe(2);
      const doc = oneDocument(r, args.join(' ')) as { error?: { code?: string } };
      expect(doc.error?.code).toBe('USAGE');
    }
  });

  it('when compare finds a mismatch (a result, not a result and an error)', async () => {
    await runCaptured(['alloc', d('b.ckd'), 'ONLY.ON.B', '--tracks', '1']);
    const r = await runCaptured(['compare', d('a.ckd'), d('b.ckd'), '--json']);
    expect(r.status).not.toBe(0);
    const doc = oneDocument(r, 'compare (mismatch)') as { mismatched?: number };
    expect(doc.mismatched).toBeGreaterThan(0);
  });

  it('get --json without an output file is refused rather than mixing data and JSON', async () => {
    for (const args of [
      ['alloc', d('a.ckd'), 'GET.ME', '--tracks', '1'],
      ['put', d('a.ckd'), 'GET.ME', d('host.txt'), '--text'],
    ]) {
      const r = await runCaptured(args);
      expect(r.status, r.stderr).toBe(0);
    }
    const got = await runCaptured(['get', d('a.ckd'), 'GET.ME', '--json']);
    expect(got.status).toBe(2);
    expect((oneDocument(got, 'get --json') as { error?: { code?: string } }).error?.code).toBe('USAGE');
  });
});
