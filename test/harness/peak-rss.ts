/**
 * Runs the real CLI as a child process and reports the child's peak resident set size, so that a
 * test can hold a command to a memory bound. The child reports its own getrusage maximum on exit
 * (report-peak-rss.mjs), which covers the whole run, not a sample of it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SNAPTAPE_BIN, type CliResult } from './run-cli.js';

const REPORTER = fileURLToPath(new URL('./report-peak-rss.mjs', import.meta.url));

export interface MeasuredCliResult extends CliResult {
  readonly peakRssBytes: number;
  readonly seconds: number;
}

/** Runs `snaptape args`; `scratchDir` receives the child's report file. */
export function runSnaptapeMeasured(args: readonly string[], scratchDir: string, options: { timeoutMs?: number } = {}): MeasuredCliResult {
  const reportFile = join(scratchDir, `peak-rss-${process.pid}-${Date.now()}.txt`);
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['--import', REPORTER, SNAPTAPE_BIN, ...args], {
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 600_000,
    env: { ...process.env, NO_COLOR: '1', SNAPTAPE_PEAK_RSS_FILE: reportFile },
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const kib = Number(readFileSync(reportFile, 'utf8'));
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr, peakRssBytes: kib * 1024, seconds };
}
