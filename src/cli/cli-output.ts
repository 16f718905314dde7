/**
 * The CLI's own output: the only place besides the progress bar that writes to stdout/stderr.
 * A command returns a result; `--json` prints it as JSON, otherwise its text form is printed.
 * A failure is one line on stderr ("snaptape: Cannot ...") and the exit status of its error code.
 */
import { EXIT_STATUS_BY_CODE, EXIT_STATUS_INTERNAL } from '../errors/exit-codes.js';
import { SnaptapeError, UsageError } from '../errors/snaptape-error.js';

let quiet = false;

/** `--quiet` (a global option, set before the command runs): no progress bars, no informational lines. */
export function setQuiet(value: boolean): void {
  quiet = value;
}

export function isQuiet(): boolean {
  return quiet;
}

/** An informational line on stderr (not a result, not an error): left out with --quiet. */
export function printInfo(line: string): void {
  if (!quiet) process.stderr.write(`${line}\n`);
}

export interface OutputOptions {
  readonly json?: boolean;
}

/** Prints a command's result: JSON when asked, else the given text lines. */
export function printResult(result: unknown, text: () => string, options: OutputOptions): void {
  if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const body = text();
    if (body.length > 0) process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
  }
}

/** Writes the one-line failure and returns the exit status to use. */
export function reportFailure(error: unknown, json: boolean): number {
  if (error instanceof SnaptapeError) {
    if (json) process.stdout.write(`${JSON.stringify({ error: error.toData() })}\n`);
    process.stderr.write(`snaptape: ${error.message}\n`);
    return EXIT_STATUS_BY_CODE[error.code];
  }
  const message = error instanceof Error ? error.message : String(error);
  // A crash is still one JSON document for a script that asked for JSON.
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'INTERNAL', message: `Cannot finish: internal error: ${message.split('\n')[0]}` } })}\n`);
  process.stderr.write(`snaptape: internal error: ${message.split('\n')[0]}\n`);
  if (process.env['SNAPTAPE_DEBUG']) process.stderr.write(`${error instanceof Error ? error.stack : ''}\n`);
  return EXIT_STATUS_INTERNAL;
}

/**
 * For a command that printed its result (a check report) and still fails: the one line on stderr
 * and the exit status of `error`'s code, without a second JSON document on stdout.
 */
export function reportFailureAfterResult(error: SnaptapeError): number {
  process.stderr.write(`snaptape: ${error.message}\n`);
  return EXIT_STATUS_BY_CODE[error.code];
}

/** Parses a non-negative integer option, or throws a usage error naming the option. */
export function parseCount(value: string, optionName: string): number {
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`Cannot parse ${optionName}: "${value}" is not a whole number`);
  }
  return Number(value);
}

/** Parses a positive decimal number option (a rate), or throws a usage error naming the option. */
export function parsePositiveNumber(value: string, optionName: string): number {
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(number > 0)) {
    throw new UsageError(`Cannot parse ${optionName}: "${value}" is not a number above 0`);
  }
  return number;
}
