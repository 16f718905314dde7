/**
 * The JSON lines (pino) a `snaptape serve --log-file` wrote, parsed: for the tests of what serve logs.
 */
import { readFileSync } from 'node:fs';

export interface LogLine {
  readonly level: number;
  readonly event: string;
  readonly [field: string]: unknown;
}

export function logLines(path: string): LogLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as LogLine);
}
