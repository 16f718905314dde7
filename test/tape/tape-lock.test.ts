/**
 * Layer: CLI scenario. A tape file that a backup is writing is locked, like an image: a second
 * writer of that tape (another backup with --force, `tape init --force`, `tape put`) is refused
 * with LOCKED (exit 10) and touches nothing, and a reader (`verify`, `tape ls`, `restore`) is told
 * the tape is being written instead of meeting a broken block. The first backup then completes and
 * its tape verifies.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSnaptape, runSnaptapeOk, SNAPTAPE_BIN } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);

beforeAll(() => {
  dir = makeTempDir();
  runSnaptapeOk(['init', at('first.ckd'), '--type', '3390', '--cyls', '10', '--volser', 'FIRST1']);
  runSnaptapeOk(['fill', at('first.ckd'), '--percent', '90']);
  runSnaptapeOk(['init', at('second.ckd'), '--type', '3390', '--cyls', '2', '--volser', 'SECND1']);
});
afterAll(() => dir.cleanup());

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a tape being written is locked', () => {
  it('a second writer gets LOCKED (10), readers are told it is being written; the first completes and verifies', async () => {
    const tape = at('t.aws');
    // About 8 MB at 0.5 MB/s: the first backup writes for several seconds.
    const first = spawn(process.execPath, [SNAPTAPE_BIN, 'backup', at('first.ckd'), '--to', tape, '--throttle-mbps', '0.5', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let firstErr = '';
    first.stderr.setEncoding('utf8').on('data', (t: string) => {
      firstErr += t;
    });
    const firstExit = new Promise<number | null>((resolve) => first.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => existsSync(tape) || first.exitCode !== null, 'the first backup to create the tape');
      expect(first.exitCode, firstErr).toBe(null);

      const second = runSnaptape(['backup', at('second.ckd'), '--to', tape, '--force']);
      expect(second.status, second.stderr).toBe(10);
      expect(second.stderr.trim().split('\n')).toHaveLength(1);
      expect(second.stderr).toContain(`Cannot write tape ${tape}: it is locked by process ${first.pid}`);

      const reinit = runSnaptape(['tape', 'init', tape, '--volser', 'OTHER1', '--force']);
      expect(reinit.status, reinit.stderr).toBe(10);
      writeFileSync(at('host.txt'), 'HELLO\n');
      const put = runSnaptape(['tape', 'put', tape, at('host.txt'), '--dsn', 'HOST.FILE', '--text']);
      expect(put.status, put.stderr).toBe(10);

      for (const reader of [
        ['verify', tape],
        ['tape', 'ls', tape],
        ['restore', tape, '--to', at('restored.ckd'), '--new-volume'],
      ]) {
        const r = runSnaptape(reader);
        expect(r.status, `${reader.join(' ')}: ${r.stderr}`).toBe(10);
        expect(r.stderr).toContain(`Cannot read tape ${tape}: it is being written by process ${first.pid}`);
      }
      expect(existsSync(at('restored.ckd')), 'a refused restore creates nothing').toBe(false);
      expect(first.exitCode, 'the first backup was still writing during every check').toBe(null);

      expect(await firstExit, firstErr).toBe(0);
      expect(existsSync(`${tape}.lock`), 'the first backup released the tape').toBe(false);
      const verify = runSnaptape(['verify', tape]);
      expect(verify.status, verify.stderr).toBe(0);
    } finally {
      first.kill('SIGKILL');
    }
  }, 120_000);

  it('a stale tape lock (its backup was killed) does not stop a reader, and a new backup takes it over', () => {
    const tape = at('stale.aws');
    runSnaptapeOk(['tape', 'init', tape, '--volser', 'STALE1']);
    // What a backup killed with SIGKILL leaves: a lock naming a process that is gone.
    writeFileSync(`${tape}.lock`, '999999999\n\n\n');
    const ls = runSnaptape(['tape', 'ls', tape]);
    expect(ls.status, ls.stderr).toBe(0);
    const backup = runSnaptape(['backup', at('second.ckd'), '--to', tape, '--force']);
    expect(backup.status, backup.stderr).toBe(0);
    expect(existsSync(`${tape}.lock`)).toBe(false);
    expect(runSnaptape(['verify', tape]).status).toBe(0);
  });
});
