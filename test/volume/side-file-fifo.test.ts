/**
 * Layer: CLI, hostile local user. A FIFO put in the place of a side file that snaptape reads whole
 * (the size store `<image>.sizes`, a tape's session record `<tape>.session.json`) must not hang the
 * command: opening a FIFO for reading blocks until a writer comes, in a synchronous open that no
 * SIGTERM ends (the event loop that would handle it is the one blocked). The size store is then
 * rebuilt by a scan; the session record, which decides whether a tape is complete, is refused.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCliFailure } from '../backup/backup-test-helpers.js';
import { runSnaptapeOk, SNAPTAPE_BIN, type CliResult } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** A command that would hang is killed (SIGKILL: SIGTERM does not end it) after this long. */
const HANG_MS = 20_000;

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);

/** Runs the CLI, killed with SIGKILL if it takes longer than HANG_MS (status -1). */
function runBounded(args: readonly string[]): CliResult {
  const r = spawnSync(process.execPath, [SNAPTAPE_BIN, ...args], {
    encoding: 'utf8',
    timeout: HANG_MS,
    killSignal: 'SIGKILL',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dir = makeTempDir('snaptape-fifo-');
  runSnaptapeOk(['init', at('v.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'FIF001']);
  runSnaptapeOk(['backup', at('v.ckd'), '--to', at('t.aws')]);
}, 60_000);
afterAll(() => dir.cleanup());

describe('a FIFO in place of a side file', () => {
  it('the size store: the table is rebuilt by a scan, and the backup runs', () => {
    rmSync(at('v.ckd.sizes'), { force: true });
    execFileSync('mkfifo', [at('v.ckd.sizes')]);
    const r = runBounded(['backup', at('v.ckd'), '--to', at('t2.aws')]);
    expect(r.status, `stderr: ${r.stderr}`).toBe(0);
  }, 60_000);

  it('the session record of a tape: verify is refused in one typed line', () => {
    rmSync(at('t.aws.session.json'), { force: true });
    execFileSync('mkfifo', [at('t.aws.session.json')]);
    expectCliFailure(runBounded(['verify', at('t.aws')]), 'IO', ['t.aws.session.json', 'not a regular file']);
  }, 60_000);
});
