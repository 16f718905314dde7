/**
 * Runs the CLI in the test's own process (through `runCli`, the entry point bin/snaptape calls)
 * with stdout and stderr captured: for tests that run many commands and would otherwise pay a
 * start-up each. Output written straight to a file descriptor (pino to fd 2) is not captured.
 */
import { runCli } from '../../src/cli/main.js';
import type { CliResult } from './run-cli.js';

export async function runInProcess(args: readonly string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const realOut = process.stdout.write.bind(process.stdout);
  const realErr = process.stderr.write.bind(process.stderr);
  const capture =
    (into: string[]) =>
    (chunk: string | Uint8Array): boolean => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    };
  process.stdout.write = capture(out) as typeof process.stdout.write;
  process.stderr.write = capture(err) as typeof process.stderr.write;
  let status: number;
  try {
    status = await runCli(args);
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
    process.exitCode = undefined;
  }
  return { status, stdout: out.join(''), stderr: err.join('') };
}

/** Runs the CLI in process, expects success (naming the command and its stderr if not), returns stdout. */
export async function runInProcessOk(args: readonly string[]): Promise<string> {
  const r = await runInProcess(args);
  if (r.status !== 0) throw new Error(`snaptape ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
