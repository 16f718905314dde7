/**
 * `snaptape backup --server S <volume> --to <tape>` (issue 5, item 3): the CLI runs the backup on a
 * daemon that owns the volume, follows it to the end, and prints the same summary; a failure on the
 * daemon is one line and the exit status of its error code. On a tracked volume `--incremental` and
 * `--since` run there too (issue 23): the chain of tapes the daemon writes restores to what the
 * export held at the last backup.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { runToolAsync } from '../export/helpers/async-tool.js';
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
    // An incremental of a volume the daemon serves untracked is refused with the reason, and no tape.
    const untracked = runSnaptape(['backup', 'prod01', '--server', socket, '--to', join(dir.path, 'z.aws'), '--incremental']);
    expect(untracked.status).toBe(EXIT_STATUS_BY_CODE.SESSION);
    expect(untracked.stderr.trim().split('\n')).toHaveLength(1);
    expect(untracked.stderr).toMatch(/no change tracking \(start it with snaptape track/);
    expect(existsSync(join(dir.path, 'z.aws'))).toBe(false);
  });
});

describe('snaptape backup --server --incremental and --since', () => {
  /** The Hercules CKD device header before track 0 (the export starts at track 0). */
  const CKD_HEADER_BYTES = 512;
  const SLOT_BYTES = 56_832;
  let dir: TempDir;
  let server: ServeProcess | undefined;
  const at = (name: string): string => join(dir.path, name);

  beforeAll(async () => {
    dir = makeTempDir('snaptape-backup-server-inc-');
    const image = makeFilledVolume(dir.path, 'trk01.ckd', { cylinders: 4, volser: 'TRK001', seed: 3 });
    runSnaptapeOk(['track', image]);
    server = await startServe([image, '--nbd', `unix:${at('nbd.sock')}`, '--control', at('ctl.sock')]);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    killAllServers();
    dir.cleanup();
  });

  interface Run {
    summary: { elements: { kind: string; blocks: number }[]; chain?: { checkpoint: string; base?: { checkpoint: string } } };
  }
  const backup = (args: string[]): Run => {
    const result = runSnaptape(['backup', 'trk01', '--server', at('ctl.sock'), ...args, '--json'], { cwd: dir.path });
    expect(result.status, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Run;
  };
  const writeTrack = async (track: number, byte: number): Promise<void> => {
    const url = `nbd+unix:///trk01?socket=${at('nbd.sock')}`;
    const w = await runToolAsync('qemu-io', ['-f', 'raw', '-c', `write -P ${byte} ${track * SLOT_BYTES + 100} 300`, url]);
    expect(w.status, w.stderr).toBe(0);
  };
  const exported = async (name: string): Promise<Buffer> => {
    const copy = at(name);
    const got = await runToolAsync('nbdcopy', [`nbd+unix:///trk01?socket=${at('nbd.sock')}`, copy]);
    expect(got.status, got.stderr).toBe(0);
    return readFileSync(copy);
  };

  it('copies only the tracks written through the export since the base, and the chain restores the export', async () => {
    const full = backup(['--to', at('full.aws')]);
    expect(full.summary.chain).toEqual({ checkpoint: 'full.aws' });
    await writeTrack(7, 0x41);
    await writeTrack(23, 0x42);
    const inc1 = backup(['--to', at('inc1.aws'), '--incremental']);
    expect(inc1.summary.chain?.base?.checkpoint).toBe('full.aws');
    expect(inc1.summary.elements.every((e) => e.kind === 'tracks')).toBe(true);
    expect(inc1.summary.elements.reduce((n, e) => n + e.blocks, 0)).toBe(2);
    const atInc1 = await exported('at-inc1.raw');
    await writeTrack(41, 0x43);
    // A differential since the full tape, named by a path relative to the client's directory.
    const diff = backup(['--to', at('diff.aws'), '--since', './full.aws']);
    expect(diff.summary.chain?.base?.checkpoint).toBe('full.aws');
    expect(diff.summary.elements.reduce((n, e) => n + e.blocks, 0)).toBe(3);
    const atDiff = await exported('at-diff.raw');
    runSnaptapeOk(['restore', at('full.aws'), at('inc1.aws'), '--to', at('r1.ckd'), '--new-volume']);
    runSnaptapeOk(['restore', at('full.aws'), at('diff.aws'), '--to', at('rd.ckd'), '--new-volume']);
    expect(readFileSync(at('r1.ckd')).subarray(CKD_HEADER_BYTES).equals(atInc1)).toBe(true);
    expect(readFileSync(at('rd.ckd')).subarray(CKD_HEADER_BYTES).equals(atDiff)).toBe(true);
  });
});
