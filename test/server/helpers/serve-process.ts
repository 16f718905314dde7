/**
 * Runs `snaptape serve` (bin/snaptape on the compiled dist/) as a child process, the way an
 * operator does, and reads its one-line JSON start record. Every process started here is tracked,
 * so a test file's afterEach/afterAll can kill whatever is left (`killAllServers`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createVolume } from '../../../src/api/volume-api.js';
import { fillVolume } from '../../../src/vtoc/volume-fill.js';
import type { ServeInfo } from '../../../src/control-api/control-api-types.js';
import { SNAPTAPE_BIN } from '../../harness/run-cli.js';

/** A server that has not printed its start line in this time is broken. */
const START_TIMEOUT_MS = 20_000;
/** A server that has not exited this long after SIGTERM is broken. */
const STOP_TIMEOUT_MS = 40_000;

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly info: ServeInfo;
  readonly exited: Promise<ExitStatus>;
  stderr(): string;
  /** Sends `signal` and waits for the exit (SIGKILL after STOP_TIMEOUT_MS). */
  stop(signal?: NodeJS.Signals): Promise<ExitStatus>;
}

const running = new Set<ChildProcess>();

export function killAllServers(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

export function startServe(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [SNAPTAPE_BIN, 'serve', ...args, '--json'], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<ExitStatus>((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  return new Promise<ServeProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`snaptape serve printed no start line in ${START_TIMEOUT_MS} ms: ${stderr}`));
    }, START_TIMEOUT_MS);
    void exited.then((status) => {
      clearTimeout(timer);
      reject(new Error(`snaptape serve exited (${status.code ?? status.signal}) before starting: ${stderr}`));
    });
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const end = stdout.indexOf('\n');
      if (end < 0) return;
      clearTimeout(timer);
      const info = JSON.parse(stdout.slice(0, end)) as ServeInfo;
      resolve({
        child,
        info,
        exited,
        stderr: () => stderr,
        stop: async (signal = 'SIGTERM') => {
          child.kill(signal);
          const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          const status = await exited;
          clearTimeout(killer);
          return status;
        },
      });
    });
  });
}

/** A filled 3390 test volume (the API equivalent of `snaptape init` + `snaptape fill`). */
export function makeFilledVolume(dir: string, name: string, options: { cylinders?: number; volser?: string; seed?: number } = {}): string {
  const path = join(dir, name);
  const volume = createVolume(path, { type: '3390', cylinders: options.cylinders ?? 20, volser: options.volser ?? 'SRC001' });
  try {
    fillVolume(volume, { seed: options.seed ?? 1, percent: 60 });
  } finally {
    volume.close();
  }
  return path;
}

/** The TCP port of a server started with `--nbd HOST:PORT` (the default is a unix socket). */
export function nbdPort(info: ServeInfo): number {
  if (info.nbd.kind !== 'tcp') throw new Error(`snaptape serve listens for NBD on unix socket ${info.nbd.path}, not TCP`);
  return info.nbd.port;
}
