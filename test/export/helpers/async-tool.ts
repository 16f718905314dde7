/**
 * Runs an external tool (qemu-img, nbdinfo, ...) without blocking the event loop, because the
 * NBD server under test runs in this same process. A missing tool fails with an install hint.
 */
import { spawn } from 'node:child_process';
import { hasTool } from '../../harness/external-tools.js';

export interface AsyncToolResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runToolAsync(name: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<AsyncToolResult> {
  if (!hasTool(name)) {
    return Promise.reject(new Error(`${name} is not installed: run apt-get install -y qemu-utils libnbd-bin (as .ci/run does)`));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(name, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('latin1').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('latin1').on('data', (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal !== null ? -1 : 0), stdout, stderr });
    });
  });
}
