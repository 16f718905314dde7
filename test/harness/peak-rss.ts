/**
 * Runs the real CLI as a child process and reports the child's peak resident set size, so that a
 * test can hold a command to a memory bound, and its I/O counts (bytes read, write calls), so that
 * a test can hold it to reading its input once or writing in batches. The child reports its own
 * getrusage maximum and /proc/self/io on exit (report-peak-rss.mjs), which cover the whole run, not
 * a sample of it.
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
  /** Bytes the child read (rchar: from files, pipes and the page cache alike). */
  readonly readBytes: number;
  /** Write system calls the child made (syscw). */
  readonly writeCalls: number;
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
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { maxRssKib: number; readBytes: number; writeCalls: number };
  return {
    status: result.status ?? -1,
    stdout: result.stdout,
    stderr: result.stderr,
    peakRssBytes: report.maxRssKib * 1024,
    seconds,
    readBytes: report.readBytes,
    writeCalls: report.writeCalls,
  };
}
