/**
 * Runs the real Hercules and NBD tools for interop tests. `.ci/run` installs them; a missing tool
 * fails the test with a line that says how to install it, so interop is never skipped silently.
 */
import { spawnSync } from 'node:child_process';

export interface ToolResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

export function runTool(name: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ToolResult {
  if (!hasTool(name)) {
    throw new Error(`${name} is not installed: run apt-get install -y hercules qemu-utils libnbd-bin (as .ci/run does)`);
  }
  const result = spawnSync(name, args, {
    cwd: options.cwd,
    encoding: 'latin1',
    timeout: options.timeoutMs ?? 60_000,
    env: { ...process.env, ...options.env },
  });
  return { status: result.status ?? -1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}
