/**
 * Helpers of the tests of a mirror split from the secondary's side: a primary and a secondary
 * `snaptape serve` on loopback with a remote FBA mirror between them, host writes through qemu-io,
 * and the CLI run as an awaited child (the test's event loop keeps running meanwhile, so the
 * control client's idle keep-alive connections see the server close them; a loop blocked by a
 * synchronous child would reuse a closed one: EPIPE).
 */
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ControlClient } from '../../src/api/control-client.js';
import { runSnaptapeOk, SNAPTAPE_BIN, type CliResult } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { nbdPort, startServe, type ServeProcess } from '../server/helpers/serve-process.js';
import { waitForMirror } from './remote-fixtures.js';

export const BLOCKS = 2048;
const BLOCK_BYTES = 512;
const LINK_TIMEOUT_MS = 800;

export interface Rig {
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

export async function serveSecondary(image: string, socket: string, port = 0): Promise<ServeProcess> {
  return startServe([image, '--nbd', `127.0.0.1:${port}`, '--insecure-tcp', '--control', socket]);
}

export async function makeRig(): Promise<Rig> {
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
export function qemuWriteCommand(rig: Rig, pattern: number, first: number, blocks: number): string[] {
  return ['-f', 'raw', `nbd://127.0.0.1:${nbdPort(rig.primary.info)}/prim`, '-c', `write -P ${pattern} ${first * BLOCK_BYTES} ${blocks * BLOCK_BYTES}`];
}

const execFileAsync = promisify(execFile);

export async function hostWrite(rig: Rig, pattern: number, first: number, blocks: number): Promise<void> {
  await execFileAsync('qemu-io', qemuWriteCommand(rig, pattern, first, blocks));
}

/**
 * The CLI as a child, awaited: the test's event loop keeps running meanwhile, so the control
 * client's idle keep-alive connections see the server close them (a blocked loop would reuse a
 * closed one: EPIPE).
 */
export async function cli(args: readonly string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [SNAPTAPE_BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    return { status: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { status: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

export async function cliJson<T>(args: readonly string[]): Promise<T> {
  const result = await cli([...args, '--json']);
  if (result.status !== 0) throw new Error(`snaptape ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export async function stopRig(rig: Rig): Promise<void> {
  await rig.primary.stop();
  await rig.secondary.stop();
}
