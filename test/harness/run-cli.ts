/**
 * Runs the real CLI (bin/snaptape, on the compiled dist/) as a child process, the way a user does.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SNAPTAPE_BIN = fileURLToPath(new URL('../../bin/snaptape', import.meta.url));

export interface CliResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `timeoutMs` ends the child with `killSignal` (SIGTERM unless told; a command hung in the open of a
 * FIFO ends only on SIGKILL); a killed child's status is -1.
 */
export function runSnaptape(
  args: readonly string[],
  options: { cwd?: string; input?: string; timeoutMs?: number; killSignal?: NodeJS.Signals; env?: NodeJS.ProcessEnv } = {},
): CliResult {
  const result = spawnSync(process.execPath, [SNAPTAPE_BIN, ...args], {
    cwd: options.cwd,
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
    ...(options.killSignal ? { killSignal: options.killSignal } : {}),
    env: { ...process.env, NO_COLOR: '1', ...options.env },
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Parses the JSON a `--json` command printed. */
export function runSnaptapeJson<T>(args: readonly string[], options: { cwd?: string } = {}): T {
  const result = runSnaptape([...args, '--json'], options);
  if (result.status !== 0) throw new Error(`snaptape ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Runs the CLI, expects success (naming the command and its stderr if not), returns stdout. */
export function runSnaptapeOk(args: readonly string[], options: { cwd?: string } = {}): string {
  const result = runSnaptape(args, options);
  if (result.status !== 0) throw new Error(`snaptape ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/**
 * Runs the CLI on a pseudo-terminal made by script(1), so that stdout and stderr are a TTY; returns
 * what the terminal showed (both streams). Throws when the command fails.
 */
export function runSnaptapeOnTerminal(args: readonly string[]): string {
  const command = [process.execPath, SNAPTAPE_BIN, ...args].map((a) => `'${a}'`).join(' ');
  return execFileSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
}
