/**
 * Layer: CLI, hostile local user. A FIFO put in the place of a side file that snaptape reads whole
 * (the size store `<image>.sizes`, a tape's session record `<tape>.session.json`), or opens to lock
 * (`<file>.lock` and its `.guard`), must not hang the command: opening a FIFO blocks until the other
 * end comes, in a synchronous open that no SIGTERM ends (the event loop that would handle it is the
 * one blocked). The size store is then rebuilt by a scan; the session record, which decides whether
 * a tape is complete, is refused; a lock that is a FIFO is a lock of no known owner.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCliFailure } from '../backup/backup-test-helpers.js';
import { runSnaptapeMeasured } from '../harness/peak-rss.js';
import { runSnaptape, runSnaptapeOk, type CliResult } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** A command that would hang is killed (SIGKILL: SIGTERM does not end it) after this long. */
const HANG_MS = 20_000;

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);

/** Runs the CLI, killed with SIGKILL if it takes longer than HANG_MS (status -1). */
const runBounded = (args: readonly string[]): CliResult => runSnaptape(args, { timeoutMs: HANG_MS, killSignal: 'SIGKILL' });

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

  it('the lock of an image: a writer is refused as locked, not hung', () => {
    runSnaptapeOk(['init', at('w.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'FIF002']);
    execFileSync('mkfifo', [at('w.ckd.lock')]);
    expectCliFailure(runBounded(['alloc', at('w.ckd'), 'A.DATA', '--tracks', '1']), 'LOCKED', ['w.ckd.lock']);
  }, 60_000);

  it('the lock of a tape: a reader goes on (a FIFO names no writer)', () => {
    runSnaptapeOk(['backup', at('v.ckd'), '--to', at('u.aws')]);
    execFileSync('mkfifo', [at('u.aws.lock')]);
    const r = runBounded(['verify', at('u.aws')]);
    expect(r.status, `stderr: ${r.stderr}`).toBe(0);
  }, 60_000);

  it('the guard of a lock: a writer is refused in one typed line', () => {
    runSnaptapeOk(['init', at('g.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'FIF003']);
    // A stale lock (its owner gone) is taken over under the guard, which is a FIFO.
    writeFileSync(at('g.ckd.lock'), '999999999\n\n\n');
    execFileSync('mkfifo', [at('g.ckd.lock.guard')]);
    expectCliFailure(runBounded(['alloc', at('g.ckd'), 'A.DATA', '--tracks', '1']), 'IO', ['g.ckd.lock']);
  }, 60_000);

  it('the change-tracking map of a volume: an incremental backup is refused in one typed line', () => {
    runSnaptapeOk(['init', at('c.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'FIF004']);
    runSnaptapeOk(['track', at('c.ckd')]);
    runSnaptapeOk(['backup', at('c.ckd'), '--to', at('c-full.aws')]);
    rmSync(at('c.ckd.tracking'));
    execFileSync('mkfifo', [at('c.ckd.tracking')]);
    expectCliFailure(runBounded(['backup', at('c.ckd'), '--to', at('c-inc.aws'), '--incremental']), 'IO', ['c.ckd.tracking', 'not a regular file']);
  }, 60_000);

  it('the change-tracking map of a volume, sparse and huge: refused by its size, not read', () => {
    runSnaptapeOk(['init', at('s.ckd'), '--type', '3390', '--cyls', '1', '--volser', 'FIF005']);
    runSnaptapeOk(['track', at('s.ckd')]);
    runSnaptapeOk(['backup', at('s.ckd'), '--to', at('s-full.aws')]);
    truncateSync(at('s.ckd.tracking'), 1024 ** 3);
    const r = runSnaptapeMeasured(['backup', at('s.ckd'), '--to', at('s-inc.aws'), '--incremental'], dir.path);
    expectCliFailure(r, 'SESSION', ['s.ckd.tracking', `it has ${1024 ** 3} bytes, 60 expected`]);
    expect(r.peakRssBytes, `peak RSS ${(r.peakRssBytes / 1024 ** 2).toFixed(0)} MiB`).toBeLessThan(512 * 1024 ** 2);
  }, 60_000);

  it('the image or the tape itself: ls, info, check, verify and restore refuse it in one line', () => {
    execFileSync('mkfifo', [at('fifo.ckd')]);
    execFileSync('mkfifo', [at('fifo.aws')]);
    for (const args of [
      ['ls', at('fifo.ckd')],
      ['info', at('fifo.ckd')],
      ['check', at('fifo.ckd')],
      ['alloc', at('fifo.ckd'), 'A.DATA', '--tracks', '1'],
    ]) {
      const r = runBounded(args);
      expect(r.status, `${args[0]} of a FIFO image: ${r.stderr}`).toBeGreaterThan(0);
      expect(r.stderr.trim().split('\n'), `${args[0]}: one line`).toHaveLength(1);
      expect(r.stderr).toContain('not a regular file');
    }
    for (const args of [
      ['verify', at('fifo.aws')],
      ['restore', at('fifo.aws'), '--to', at('never.ckd'), '--new-volume'],
      ['info', at('fifo.aws')],
    ]) {
      const r = runBounded(args);
      expect(r.status, `${args[0]} of a FIFO tape: ${r.stderr}`).toBeGreaterThan(0);
      expect(r.stderr.trim().split('\n'), `${args[0]}: one line`).toHaveLength(1);
      expect(r.stderr).toContain('not a regular file');
    }
  }, 180_000);
});
