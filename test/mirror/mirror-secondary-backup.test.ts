/**
 * Layer: scenario with two real servers. A primary `snaptape serve` mirrors an FBA volume onto the
 * export of a second `snaptape serve` (loopback NBD); everything below is run against the
 * secondary's server only, as an operator on the secondary's site would (claims 1A/8A of US
 * 5,857,208), with qemu-io as the host writing to the primary:
 *
 * - `mirror split --from-secondary`: the primary's mirror goes BACKUP "split by the secondary" on
 *   the next host write, which stays off the secondary; a restart of the secondary's server while
 *   split keeps it split (a reconnect that is no end of backup is not taken for one); `mirror
 *   rejoin --from-secondary` is the end-of-backup signal: the primary rejoins by itself, reports
 *   the reconnect as an end of backup, and both images are identical;
 * - a failing `--pre-split` hook: exit status of HookError, the hook's output in the message, no
 *   split, no tape, the mirror ONGOING and in sync with its split count unchanged (from the
 *   secondary's `mirror backup` and from the primary's `mirror split` alike);
 * - then `mirror backup sec --to t.aws --rejoin`: one command splits, backs up and rejoins; the
 *   host writes from its post-split hook; the tape restores to the split instant, not later, and
 *   after the rejoin the secondary equals the primary.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/api/control-client.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import type { MirrorStatus } from '../../src/techniques/mirror/mirror-types.js';
import { runSnaptapeOk, SNAPTAPE_BIN, type CliResult } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, nbdPort, startServe, type ServeProcess } from '../server/helpers/serve-process.js';
import { filesIdentical } from './mirror-fixtures.js';
import { waitForMirror } from './remote-fixtures.js';

const BLOCKS = 2048;
const BLOCK_BYTES = 512;
const LINK_TIMEOUT_MS = 800;

afterAll(() => killAllServers());

interface Rig {
  dir: TempDir;
  primaryImage: string;
  secondaryImage: string;
  primary: ServeProcess;
  primaryControl: ControlClient;
  secondary: ServeProcess;
  secondarySocket: string;
  secondaryPort: number;
  mirrorId: string;
}

async function serveSecondary(image: string, socket: string, port = 0): Promise<ServeProcess> {
  return startServe([image, '--nbd', `127.0.0.1:${port}`, '--insecure-tcp', '--control', socket]);
}

async function makeRig(): Promise<Rig> {
  const dir = makeTempDir('snaptape-mirror-secondary-backup-');
  const primaryImage = join(dir.path, 'prim.fba');
  const secondaryImage = join(dir.path, 'sec.fba');
  runSnaptapeOk(['init', primaryImage, '--type', 'fba', '--blocks', String(BLOCKS), '--volser', 'PRI001']);
  runSnaptapeOk(['init', secondaryImage, '--type', 'fba', '--blocks', String(BLOCKS), '--volser', 'SEC001']);
  const secondarySocket = join(dir.path, 'sec.sock');
  const secondary = await serveSecondary(secondaryImage, secondarySocket);
  const primarySocket = join(dir.path, 'prim.sock');
  const primary = await startServe([primaryImage, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', primarySocket]);
  const primaryControl = new ControlClient({ kind: 'unix', socketPath: primarySocket });
  const secondaryPort = nbdPort(secondary.info);
  const session = await primaryControl.startSession({
    type: 'mirror',
    volume: 'prim',
    secondaries: [`127.0.0.1:${secondaryPort}/sec`],
    linkTimeoutMs: LINK_TIMEOUT_MS,
  });
  await waitForMirror(primaryControl, session.id, (m) => m.inSync);
  return { dir, primaryImage, secondaryImage, primary, primaryControl, secondary, secondarySocket, secondaryPort, mirrorId: session.id };
}

/** A host write to the primary through a real NBD client: `blocks` blocks of `pattern` from block `first`. */
function qemuWriteCommand(rig: Rig, pattern: number, first: number, blocks: number): string[] {
  return ['-f', 'raw', `nbd://127.0.0.1:${nbdPort(rig.primary.info)}/prim`, '-c', `write -P ${pattern} ${first * BLOCK_BYTES} ${blocks * BLOCK_BYTES}`];
}

const execFileAsync = promisify(execFile);

async function hostWrite(rig: Rig, pattern: number, first: number, blocks: number): Promise<void> {
  await execFileAsync('qemu-io', qemuWriteCommand(rig, pattern, first, blocks));
}

/**
 * The CLI as a child, awaited: the test's event loop keeps running meanwhile, so the control
 * client's idle keep-alive connections see the server close them (a blocked loop would reuse a
 * closed one: EPIPE).
 */
async function cli(args: readonly string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [SNAPTAPE_BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    return { status: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { status: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

async function cliJson<T>(args: readonly string[]): Promise<T> {
  const result = await cli([...args, '--json']);
  if (result.status !== 0) throw new Error(`snaptape ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

async function stopRig(rig: Rig): Promise<void> {
  await rig.primary.stop();
  await rig.secondary.stop();
}

describe('a mirror split, backed up and rejoined from the secondary side', () => {
  it('splits on the secondary, survives a restart of its server split, and rejoins on its end-of-backup signal', async () => {
    const rig = await makeRig();
    try {
      await hostWrite(rig, 0x11, 0, 64);
      const split = await cliJson<{ split: { split: boolean; splitAt: string } }>([
        'mirror',
        'split',
        'sec',
        '--from-secondary',
        '--server',
        rig.secondarySocket,
      ]);
      expect(split.split.split).toBe(true);
      expect(existsSync(`${rig.secondaryImage}.secondary-split`)).toBe(true);
      const atSplit = readFileSync(rig.secondaryImage);

      // The host goes on writing the primary: the write is refused on the link, the mirror splits.
      await hostWrite(rig, 0x22, 100, 32);
      const backup = await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.state === 'BACKUP');
      expect(backup.splitBy).toBe('secondary');
      expect(backup.invalidTracks).toBe(32);
      expect(backup.inSync).toBe(false);
      expect(readFileSync(rig.secondaryImage).equals(atSplit)).toBe(true);

      // A restart of the secondary's server is no end of backup: the split is durable, the mirror stays split.
      await rig.secondary.stop();
      rig.secondary = await serveSecondary(rig.secondaryImage, rig.secondarySocket, rig.secondaryPort);
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const stillSplit = (await rig.primaryControl.getSession(rig.mirrorId)).progress as unknown as { mirrors: MirrorStatus[] };
      expect(stillSplit.mirrors[0]?.state).toBe('BACKUP');
      expect(stillSplit.mirrors[0]?.lastReconnect ?? null).toBeNull();
      const listed = await cli(['mirror', 'split', 'sec', '--from-secondary', '--server', rig.secondarySocket]);
      expect(listed.status).toBe(EXIT_STATUS_BY_CODE.SESSION);
      expect(listed.stderr).toMatch(/Cannot split sec from the secondary's side: it is split since/);

      const rejoined = await cliJson<{ split: { split: boolean } }>(['mirror', 'rejoin', 'sec', '--from-secondary', '--server', rig.secondarySocket]);
      expect(rejoined.split.split).toBe(false);
      const ongoing = await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.inSync);
      expect(ongoing.lastReconnect?.endOfBackup).toBe(true);
      expect(ongoing.splitCount).toBe(1);
      expect(existsSync(`${rig.secondaryImage}.secondary-split`)).toBe(false);
      await stopRig(rig);
      expect(filesIdentical(rig.primaryImage, rig.secondaryImage)).toBe(true);
    } finally {
      rig.dir.cleanup();
    }
  });

  it('mirror backup: a failing --pre-split hook splits nothing; with --rejoin one command splits, backs up and rejoins, the tape at the split instant', async () => {
    const rig = await makeRig();
    try {
      await hostWrite(rig, 0x11, 0, 64);
      const before = await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.inSync);
      const never = join(rig.dir.path, 'never.aws');
      const failed = await cli([
        'mirror',
        'backup',
        'sec',
        '--to',
        never,
        '--rejoin',
        '--server',
        rig.secondarySocket,
        '--pre-split',
        'echo "database busy: 3 open transactions" >&2; exit 3',
      ]);
      expect(failed.status).toBe(EXIT_STATUS_BY_CODE.HOOK);
      expect(failed.stderr).toMatch(/Cannot run the pre-split hook of sec .*exited with status 3; its output: database busy: 3 open transactions/);
      expect(existsSync(never)).toBe(false);
      expect(existsSync(`${rig.secondaryImage}.secondary-split`)).toBe(false);

      // The primary's own split takes the same hooks, and refuses the same way.
      const primarySide = await cli(['mirror', 'split', 'prim', '--server', join(rig.dir.path, 'prim.sock'), '--pre-split', 'exit 1']);
      expect(primarySide.status).toBe(EXIT_STATUS_BY_CODE.HOOK);

      const after = await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.inSync);
      expect(after.state).toBe('ONGOING');
      expect(after.splitCount).toBe(before.splitCount);
      expect(after.reconnects).toBe(0);
      expect(filesIdentical(rig.primaryImage, rig.secondaryImage)).toBe(true);

      const reference = join(rig.dir.path, 'ref.fba');
      copyFileSync(rig.primaryImage, reference);
      const tape = join(rig.dir.path, 't.aws');
      const marker = join(rig.dir.path, 'hooks.log');
      // The post-split hook is the application going on: it writes to the primary after the split instant.
      const write = ['qemu-io', ...qemuWriteCommand(rig, 0x33, 200, 64).map((a) => `'${a}'`)].join(' ');
      const result = await cliJson<{ split: { splitAt: string }; backup: { state: string }; rejoined: boolean; hooks: { phase: string; output: string }[] }>([
        'mirror',
        'backup',
        'sec',
        '--to',
        tape,
        '--rejoin',
        '--server',
        rig.secondarySocket,
        '--pre-split',
        `echo "pre $SNAPTAPE_HOOK $SNAPTAPE_VOLUME $SNAPTAPE_SIDE" >> ${marker}`,
        '--post-split',
        `${write} && echo "post $SNAPTAPE_HOOK" >> ${marker}`,
      ]);
      expect(result.backup.state).toBe('completed');
      expect(result.rejoined).toBe(true);
      expect(result.hooks.map((h) => h.phase)).toEqual(['pre-split', 'post-split']);
      expect(readFileSync(marker, 'utf8')).toBe('pre pre-split sec secondary\npost post-split\n');

      const restored = join(rig.dir.path, 'restored.fba');
      expect((await cli(['restore', tape, '--to', restored, '--new-volume'])).status).toBe(0);
      expect(filesIdentical(restored, reference)).toBe(true);
      expect(filesIdentical(restored, rig.primaryImage)).toBe(false);

      await waitForMirror(rig.primaryControl, rig.mirrorId, (m) => m.inSync);
      await stopRig(rig);
      expect(filesIdentical(rig.primaryImage, rig.secondaryImage)).toBe(true);
    } finally {
      rig.dir.cleanup();
    }
  });
});
