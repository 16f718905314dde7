/**
 * Layers: CLI (`serve --log-level/--log-file`). The server logs JSON lines (pino) to the file: its
 * start and stop, and each session's states, at info; per-session progress only at debug; nothing
 * below the level chosen. An unknown level is a usage error, not a crash.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { killAllServers, startServe } from '../server/helpers/serve-process.js';
import { logLines } from '../harness/log-lines.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
const d = (name: string): string => join(dir.path, name);
beforeAll(() => {
  dir = makeTempDir();
  runSnaptapeOk(['init', d('a.ckd'), '--type', '3390', '--cyls', '10', '--volser', 'VOLA']);
  runSnaptapeOk(['fill', d('a.ckd'), '--percent', '50']);
});
afterEach(() => killAllServers());
afterAll(() => dir.cleanup());

/** Serves the image, runs a backup on it over the control socket, stops the server. */
async function serveWithBackup(logArgs: readonly string[], tape: string): Promise<void> {
  const server = await startServe([d('a.ckd'), '--control', d('ctl.sock'), '--nbd', `unix:${d('nbd.sock')}`, ...logArgs]);
  runSnaptapeOk(['backup', 'a', '--server', d('ctl.sock'), '--to', d(tape)]);
  const status = await server.stop();
  expect(status.code).toBe(0);
}

describe('serve --log-level / --log-file', () => {
  it('at debug: start, session states, session progress and stop, as JSON lines', async () => {
    await serveWithBackup(['--log-file', d('debug.log'), '--log-level', 'debug'], 'a.aws');
    const lines = logLines(d('debug.log'));
    const events = lines.map((l) => l.event);
    expect(events[0]).toBe('serve.started');
    expect(events[events.length - 1]).toBe('serve.stopped');
    expect(lines.filter((l) => l.event === 'session.state').map((l) => l['state'])).toContain('completed');
    const progress = lines.filter((l) => l.event === 'session.progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((l) => l.level === 20)).toBe(true); // pino debug
    expect(JSON.stringify(lines)).not.toMatch(/"token":"[0-9a-f]{16,}"/);
  });

  it('at info (the default with --log-file): the same events without progress; at warn: none of them', async () => {
    await serveWithBackup(['--log-file', d('info.log')], 'b.aws');
    const info = logLines(d('info.log'));
    expect(info.map((l) => l.event)).toEqual(expect.arrayContaining(['serve.started', 'session.state', 'serve.stopped']));
    expect(info.every((l) => l.level >= 30)).toBe(true);
    expect(info.some((l) => l.event === 'session.progress')).toBe(false);

    await serveWithBackup(['--log-file', d('warn.log'), '--log-level', 'warn'], 'c.aws');
    expect(logLines(d('warn.log'))).toEqual([]);
  });

  it('--quiet drops the informational stop line; without it the line is there', async () => {
    for (const quiet of [false, true]) {
      const server = await startServe([d('a.ckd'), '--control', d('q.sock'), '--nbd', `unix:${d('q-nbd.sock')}`, ...(quiet ? ['--quiet'] : [])]);
      await server.stop();
      expect(server.stderr().includes('stopped'), `quiet ${quiet}: ${server.stderr()}`).toBe(!quiet);
    }
  });

  it('an unknown level is a usage error naming the levels', () => {
    const r = runSnaptape(['serve', d('a.ckd'), '--log-level', 'loud', '--control', d('x.sock')]);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.USAGE);
    expect(r.stderr).toMatch(/^snaptape: Cannot log at level "loud": the levels are debug, info, warn, error\n$/);
  });
});
