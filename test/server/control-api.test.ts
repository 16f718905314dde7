/**
 * The control API of `snaptape serve` (native-layout/control-api.md), against a server child
 * process: listing volumes; starting, pausing, resuming and cancelling a backup; the server-sent
 * event stream; typed JSON errors for bad requests; the bearer token on TCP; the CLI clients.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/api/control-client.js';
import type { SessionEvent, SessionInfo, VolumeInfo } from '../../src/control-api/control-api-types.js';
import { readSessionRecord } from '../../src/techniques/tape-backup/session-record.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape } from '../harness/run-cli.js';
import { killAllServers, makeFilledVolume, startServe } from './helpers/serve-process.js';
import { rawRequest } from './helpers/http-request.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` holds, at most `limit` times. */
async function until(check: () => Promise<boolean>, limit = 200): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error('condition not met in time');
}

function errorOf(body: unknown): { code: string; message: string } {
  return (body as { error: { code: string; message: string } }).error;
}

describe('snaptape serve: control API over a unix socket', () => {
  let dir: TempDir;
  let socket: string;
  let client: ControlClient;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-serve-ctl-');
    const image = makeFilledVolume(dir.path, 'src001.ckd');
    socket = join(dir.path, 'ctl.sock');
    await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
    client = new ControlClient({ kind: 'unix', socketPath: socket });
  });

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  it('GET /volumes lists the served volume', async () => {
    const volumes: VolumeInfo[] = await client.listVolumes();
    expect(volumes).toHaveLength(1);
    expect(volumes[0]).toMatchObject({
      name: 'src001',
      format: 'ckd',
      deviceType: '3390',
      volser: 'SRC001',
      readOnly: false,
      unitCount: 300,
      slotBytes: 56832,
      exportSizeBytes: 300 * 56832,
      interceptors: [],
    });
  });

  it('starts a backup, pauses and resumes it, and the event stream delivers its progress', async () => {
    const events: SessionEvent[] = [];
    const stream = await client.events({}, (event) => events.push(event));
    const tape = join(dir.path, 'paused.aws');
    const started = await client.startSession({ type: 'backup', volume: 'src001', tape, workers: 1, throttleMbps: 5 });
    expect(started).toMatchObject({ type: 'backup', volume: 'src001', target: tape, state: 'running', finishedAt: null });
    expect((await client.listVolumes())[0]?.interceptors).toHaveLength(1);

    const paused = await client.pause(started.id);
    expect(paused.state).toBe('paused');
    expect(readSessionRecord(tape)?.status).toBe('paused');
    // Workers stop at their next slot: once settled, no more bytes are copied while paused.
    await sleep(300);
    const copiedA = ((await client.getSession(started.id)).progress as { bytesCopied: number }).bytesCopied;
    await sleep(400);
    const stillPaused = await client.getSession(started.id);
    expect(stillPaused.state).toBe('paused');
    expect((stillPaused.progress as { bytesCopied: number }).bytesCopied).toBe(copiedA);
    expect((await client.resume(started.id)).state).toBe('running');

    const progressSeen: SessionInfo[] = [];
    const final = await client.waitForSession(started.id, (s) => progressSeen.push(s));
    expect(final.state).toBe('completed');
    expect(final.finishedAt).not.toBeNull();
    expect((final.summary as { elements: unknown[] }).elements).toHaveLength(1);
    expect(progressSeen.length).toBeGreaterThan(0);
    await until(async () => events.some((e) => e.kind === 'end' && e.session.id === started.id));
    stream.close();
    const kinds = new Set(events.filter((e) => e.session.id === started.id).map((e) => e.kind));
    expect([...kinds].sort()).toEqual(['end', 'progress', 'state']);
    const states = events.filter((e) => e.kind === 'state' && e.session.id === started.id).map((e) => e.session.state);
    expect(states).toEqual(expect.arrayContaining(['paused', 'running', 'completed']));
    const progress = events.filter((e) => e.kind === 'progress').map((e) => (e.session.progress as { bytesCopied: number }).bytesCopied);
    expect(progress.at(-1)).toBe((final.progress as { bytesTotal: number }).bytesTotal);
  });

  it('cancels a backup: the session ends cancelled and its record says so', async () => {
    const tape = join(dir.path, 'cancelled.aws');
    const started = await client.startSession({ type: 'backup', volume: 'src001', tape, workers: 1, throttleMbps: 1 });
    expect((await client.cancel(started.id)).state).toBe('cancelled');
    const final = await client.waitForSession(started.id);
    expect(final.state).toBe('cancelled');
    expect(final.error?.code).toBe('SESSION');
    expect(readSessionRecord(tape)?.status).toBe('cancelled');
    expect((await client.listSessions()).map((s) => s.id)).toContain(started.id);
    expect((await client.listVolumes())[0]?.interceptors).toEqual([]);
  });

  it('a one-session event stream of a finished session sends its state and end, then closes', async () => {
    const sessions = await client.listSessions();
    const done = sessions.find((s) => s.state === 'completed') as SessionInfo;
    const events: SessionEvent[] = [];
    const stream = await client.events({ session: done.id }, (e) => events.push(e));
    await stream.ended;
    expect(events.map((e) => e.kind)).toEqual(['state', 'end']);
  });

  it('answers bad requests with typed JSON errors', async () => {
    const t = { socketPath: socket };
    const json = { 'content-type': 'application/json' };
    const cases: Array<[string, string, string | undefined, number, string]> = [
      ['POST', '/sessions', '{"type":"backup","volume":"nope","tape":"x.aws"}', 404, 'UNKNOWN_VOLUME'],
      ['POST', '/sessions', '{"type":"backup", volume', 400, 'BAD_JSON'],
      ['POST', '/sessions', '[1,2]', 400, 'BAD_JSON'],
      ['POST', '/sessions', '{"type":"mirror","volume":"src001"}', 400, 'BAD_REQUEST'],
      ['POST', '/sessions', '{"type":"backup","volume":"src001","tape":"x.aws","wrokers":2}', 400, 'BAD_REQUEST'],
      ['POST', '/sessions', '{"type":"backup","volume":"src001","tape":"x.aws","workers":0}', 400, 'BAD_REQUEST'],
      ['POST', '/sessions', `{"type":"backup","volume":"src001","tape":"x.aws","referenceCopy":"${join(dir.path, 'r.ckd')}"}`, 400, 'BAD_REQUEST'],
      ['GET', '/sessions/backup-999', undefined, 404, 'UNKNOWN_SESSION'],
      ['POST', '/sessions/backup-999/pause', undefined, 404, 'UNKNOWN_SESSION'],
      ['POST', '/sessions/backup-1/pause', undefined, 409, 'SESSION'],
      ['GET', '/events?session=backup-999', undefined, 404, 'UNKNOWN_SESSION'],
      ['GET', '/nothing', undefined, 404, 'NOT_FOUND'],
      ['DELETE', '/sessions', undefined, 405, 'METHOD_NOT_ALLOWED'],
      ['POST', '/sessions', `{"pad":"${'x'.repeat(70_000)}"}`, 413, 'BODY_TOO_LARGE'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const response = await rawRequest(t, method, path, { body, headers: json });
      expect(response.status, `${method} ${path}`).toBe(status);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(errorOf(response.body).code, `${method} ${path}`).toBe(code);
      expect(errorOf(response.body).message).toMatch(/^Cannot /);
    }
  });

  it('refuses to overwrite an existing tape without force (TARGET_EXISTS, 409)', async () => {
    const tape = join(dir.path, 'exists.aws');
    writeFileSync(tape, 'x');
    const response = await rawRequest({ socketPath: socket }, 'POST', '/sessions', { body: JSON.stringify({ type: 'backup', volume: 'src001', tape }) });
    expect(response.status).toBe(409);
    expect(errorOf(response.body).code).toBe('TARGET_EXISTS');
    await expect(client.getSession('backup-42')).rejects.toMatchObject({ code: 'USAGE', details: { apiCode: 'UNKNOWN_SESSION', httpStatus: 404 } });
  });

  it('the CLI lists and shows sessions through --server', () => {
    const list = runSnaptape(['sessions', '--server', socket, '--json']);
    expect(list.status, list.stderr).toBe(0);
    const { sessions } = JSON.parse(list.stdout) as { sessions: SessionInfo[] };
    expect(sessions.map((s) => s.id)).toEqual(['backup-1', 'backup-2']);
    const show = runSnaptape(['session', 'show', 'backup-2', '--server', socket]);
    expect(show.stdout).toMatch(/^backup-2 {2}backup {2}src001 {2}cancelled/);
    const missing = runSnaptape(['session', 'cancel', 'backup-77', '--server', socket]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^snaptape: Cannot find session 'backup-77'/);
  });

  it('takes the copy-before-write policy, a spool and a slowed target per session, and refuses a bad policy', async () => {
    const tape = join(dir.path, 'spooled.aws');
    const spool = join(dir.path, 'spooled.spool');
    const started = await client.startSession({
      type: 'backup',
      volume: 'src001',
      tape,
      workers: 1,
      onCbwError: 'break-host-write',
      cbwTimeoutMs: 5_000,
      spool,
      targetMbps: 200,
    });
    expect(existsSync(spool), 'the spool exists while the backup runs').toBe(true);
    const final = await client.waitForSession(started.id);
    expect(final.state).toBe('completed');
    expect((final.summary as { spool?: { path: string } }).spool?.path).toBe(spool);
    expect(existsSync(spool), 'the spool is removed once the tape is complete').toBe(false);
    const refused = await rawRequest({ socketPath: socket }, 'POST', '/sessions', {
      body: JSON.stringify({ type: 'backup', volume: 'src001', tape: join(dir.path, 'never.aws'), onCbwError: 'ignore' }),
    });
    expect(refused.status).toBe(400);
    expect(errorOf(refused.body).message).toMatch(/onCbwError "ignore"/);
    expect(existsSync(join(dir.path, 'never.aws'))).toBe(false);
  });
});

describe('snaptape serve: TCP control needs the bearer token; SIGTERM shuts down cleanly', () => {
  let dir: TempDir;

  beforeAll(() => {
    dir = makeTempDir('snaptape-serve-tcp-');
  });

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  it('answers 401 without the token, and serves with it', async () => {
    const image = makeFilledVolume(dir.path, 'tcp1.ckd', { volser: 'TCP001' });
    const token = 'test-token-0123456789';
    const server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', '127.0.0.1:0'], { env: { SNAPTAPE_TOKEN: token } });
    try {
      const control = server.info.control;
      expect(control.kind).toBe('tcp');
      if (control.kind !== 'tcp') return;
      expect(control.token).toBe(token);
      const target = { host: control.host, port: control.port };
      const bare = await rawRequest(target, 'GET', '/volumes');
      expect(bare.status).toBe(401);
      expect(errorOf(bare.body).code).toBe('UNAUTHORIZED');
      expect(bare.headers['www-authenticate']).toMatch(/^Bearer/);
      const wrong = await rawRequest(target, 'GET', '/volumes', { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const good = await rawRequest(target, 'GET', '/volumes', { headers: { authorization: `Bearer ${token}` } });
      expect(good.status).toBe(200);
      // The live page's icon is a static file like the page itself: no 401 in the browser's console.
      const icon = await rawRequest(target, 'GET', '/favicon.ico');
      expect(icon.status).toBe(200);
      expect(icon.headers['content-type']).toMatch(/^image\/svg\+xml/);
      const client = new ControlClient({ kind: 'tcp', host: control.host, port: control.port, token });
      expect((await client.listVolumes())[0]?.name).toBe('tcp1');
    } finally {
      expect((await server.stop()).code).toBe(0);
    }
  });

  it('prints a random token when none is given', async () => {
    const image = makeFilledVolume(dir.path, 'tcp2.ckd', { volser: 'TCP002' });
    const server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', '127.0.0.1:0'], { env: { SNAPTAPE_TOKEN: '' } });
    try {
      expect(server.info.control.kind === 'tcp' && /^[0-9a-f]{48}$/.test(server.info.control.token)).toBe(true);
    } finally {
      expect((await server.stop()).code).toBe(0);
    }
  });

  it('SIGTERM during a backup: cancels and persists it, releases the lock, removes the socket, exits 0', async () => {
    const image = makeFilledVolume(dir.path, 'term.ckd', { volser: 'TERM01' });
    const socket = join(dir.path, 'term.sock');
    const server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
    expect(existsSync(`${image}.lock`)).toBe(true);
    expect(existsSync(socket)).toBe(true);
    const client = new ControlClient({ kind: 'unix', socketPath: socket });
    const tape = join(dir.path, 'term.aws');
    await client.startSession({ type: 'backup', volume: 'term', tape, workers: 1, throttleMbps: 1 });
    const status = await server.stop('SIGTERM');
    expect(status).toEqual({ code: 0, signal: null });
    expect(existsSync(`${image}.lock`)).toBe(false);
    expect(existsSync(socket)).toBe(false);
    expect(readSessionRecord(tape)?.status).toBe('cancelled');
  });
});
