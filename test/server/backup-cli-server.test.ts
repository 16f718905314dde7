/**
 * `snaptape backup --server S <volume> --to <tape>` (issue 5, item 3): the CLI runs the backup on a
 * daemon that owns the volume, follows it to the end, and prints the same summary; a failure on the
 * daemon is one line and the exit status of its error code.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape } from '../harness/run-cli.js';
import { killAllServers, makeFilledVolume, startServe, type ServeProcess } from './helpers/serve-process.js';

describe('snaptape backup --server', () => {
  let dir: TempDir;
  let server: ServeProcess;
  let socket: string;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-backup-server-');
    const image = makeFilledVolume(dir.path, 'prod01.ckd');
    socket = join(dir.path, 'ctl.sock');
    server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
  });

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  it('backs up the served volume and leaves a tape that verifies', () => {
    const tape = join(dir.path, 'served.aws');
    const result = runSnaptape(['backup', 'prod01', '--server', socket, '--to', tape, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { session: string; summary: { elements: { sha256: string }[]; tapePath: string } };
    expect(out.session).toMatch(/^backup-/);
    expect(out.summary.tapePath).toBe(tape);
    const verify = runSnaptape(['verify', tape, '--json']);
    expect(verify.status, verify.stderr).toBe(0);
    expect((JSON.parse(verify.stdout) as { elements: { sha256: string }[] }).elements[0]?.sha256).toBe(out.summary.elements[0]?.sha256);
    expect(existsSync(`${tape}.session.bitmap`), 'a completed backup keeps no checkpoint').toBe(false);
    expect(server.child.exitCode).toBeNull();
  });

  it('reports a refusal from the daemon as one line with its exit status', () => {
    const tape = join(dir.path, 'served.aws');
    const again = runSnaptape(['backup', 'prod01', '--server', socket, '--to', tape]);
    expect(again.status).toBe(EXIT_STATUS_BY_CODE.TARGET_EXISTS);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    const unknown = runSnaptape(['backup', 'nosuch', '--server', socket, '--to', join(dir.path, 'x.aws')]);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toMatch(/^snaptape: Cannot .*nosuch/);
    const local = runSnaptape(['backup', 'prod01', '--server', socket, '--to', join(dir.path, 'y.aws'), '--load', 'random:10']);
    expect(local.status).toBe(EXIT_STATUS_BY_CODE.USAGE);
  });
});
