/**
 * Layer: unit, in a child process (it needs `--expose-gc` and a file size limit). Review of serve's
 * NBD event log: what becomes of the log lines when the log file cannot be written (a full disk,
 * here a file at the process's size limit, EFBIG). The program goes on: a log call never throws,
 * and a line that cannot be written is dropped and counted, not kept, so memory does not grow with
 * what a client makes the server log meanwhile. Once the file takes lines again, one line says how
 * many were lost. Runs the built module (dist/): `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const LOG_MODULE = fileURLToPath(new URL('../../dist/base/log.js', import.meta.url));

/** Logs 40,000 lines of 1 KiB into a file that is full, then frees it and logs one more. */
const SCRIPT = `
import { createEventLogger } from ${JSON.stringify(LOG_MODULE)};
import { closeSync, ftruncateSync, openSync, readFileSync } from 'node:fs';
const file = process.argv[1];
const { log, flush } = createEventLogger({ file });
const reason = 'r'.repeat(1000);
let threw = 0;
const fill = (n) => {
  for (let i = 0; i < n; i++) {
    try { log('nbd.backend-error', { connection: i, reason }, 'warn'); } catch { threw++; }
  }
};
fill(100);
globalThis.gc();
const before = process.memoryUsage().heapUsed;
fill(40000);
globalThis.gc();
const grownBytes = process.memoryUsage().heapUsed - before;
const fd = openSync(file, 'r+');
ftruncateSync(fd, 0);
closeSync(fd);
try { log('serve.stopped', { cancelledSessions: [], unsettledSessions: [] }); flush(); } catch { threw++; }
const events = [];
let broken = 0;
for (const line of readFileSync(file, 'utf8').split('\\n').filter((l) => l.length > 0)) {
  try { const l = JSON.parse(line); events.push([l.event, l.lines ?? null]); } catch { broken++; }
}
process.stdout.write(JSON.stringify({ grownBytes, threw, events, broken }));
`;

let dir: TempDir | undefined;
afterEach(() => {
  dir?.cleanup();
  dir = undefined;
});

describe('the event log when its file cannot be written', () => {
  it('drops and counts the lines, never throws, keeps no backlog, and says how many were lost', () => {
    expect(existsSync(LOG_MODULE), 'npm run build first').toBe(true);
    dir = makeTempDir('snaptape-log-unwritable-');
    const file = join(dir.path, 'serve.log');
    // ulimit -f counts KiB: the log file stops at 64 KiB (a write past it fails with EFBIG; node ignores SIGXFSZ).
    const child = spawnSync('bash', ['-c', `ulimit -f 64 && exec "$0" --expose-gc --input-type=module -e "$1" "$2"`, process.execPath, SCRIPT, file], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.status, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout) as { grownBytes: number; threw: number; events: [string, number | null][]; broken: number };
    // 40,000 lines of 1 KiB: kept, they would be over 40 MB.
    expect(result.grownBytes).toBeLessThan(8 << 20);
    expect(result.threw).toBe(0);
    expect(result.broken).toBe(0);
    expect(result.events.map((e) => e[0])).toEqual(['serve.stopped', 'log.lines-lost']);
    expect(result.events[1]?.[1]).toBeGreaterThan(40_000);
  }, 60_000);
});
