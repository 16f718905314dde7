/**
 * Layer: `snaptape serve` child process, real sockets on loopback, hostile local user. The TCP
 * control API (bearer token) under a flood of more connections than its pools hold
 * (control-connections.ts: 256 pending, 64 admitted): connections that never send a byte, ones
 * that send half a request's headers and stop, and ones that made a request with the token and
 * then sit idle. Meanwhile a legitimate client (a new connection, its request sent at once) is
 * answered 200; the connections past the bound are closed at once, and the silent and stalled
 * ones are closed at their deadline, so neither sockets nor memory grow without bound.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/api/control-client.js';
import { MAX_CONTROL_CONNECTIONS, MAX_PENDING_CONTROL_CONNECTIONS, PENDING_DEADLINE_MS } from '../../src/server/control-connections.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, startServe, type ServeProcess } from './helpers/serve-process.js';

const TOKEN = 'flood-token-0123456789abcdef';
/** Past the pending pool's bound. */
const SILENT = MAX_PENDING_CONTROL_CONNECTIONS + 144;

let dir: TempDir;
let server: ServeProcess;
let host: string;
let port: number;
const opened: Socket[] = [];

beforeAll(async () => {
  dir = makeTempDir('snaptape-control-flood-');
  const image = makeFilledVolume(dir.path, 'flood.ckd', { volser: 'FLD001' });
  server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', '127.0.0.1:0'], { env: { SNAPTAPE_TOKEN: TOKEN } });
  const control = server.info.control;
  if (control.kind !== 'tcp') throw new Error('the control API listens on TCP');
  host = control.host;
  port = control.port;
}, 60_000);

afterAll(async () => {
  for (const s of opened) s.destroy();
  await server.stop();
  killAllServers();
  dir.cleanup();
});

/** Opens a connection and resolves once it is connected; `closed` says when the server closed it. */
function open(): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    opened.push(socket);
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

async function honestRequest(): Promise<{ ms: number; names: string[] }> {
  const started = Date.now();
  const client = new ControlClient({ kind: 'tcp', host, port, token: TOKEN });
  const names = (await client.listVolumes()).map((v) => v.name);
  return { ms: Date.now() - started, names };
}

describe('the TCP control API under a connection flood', () => {
  it(`answers a legitimate client while ${SILENT} connections send nothing, and closes them at their deadline`, async () => {
    const silent = [];
    for (let i = 0; i < SILENT; i++) silent.push(await open());
    const honest = await honestRequest();
    expect(honest.names).toEqual(['flood']);
    expect(honest.ms, 'answered at once, not after the deadline of the flood').toBeLessThan(PENDING_DEADLINE_MS);
    // Past the pool's bound, the oldest went at once; the rest go at their deadline.
    const closedBy = await Promise.all(
      silent.map((s) => Promise.race([s.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), PENDING_DEADLINE_MS * 3))])),
    );
    expect(closedBy.every(Boolean), 'every silent connection is closed by the server').toBe(true);
  }, 60_000);

  it('answers a legitimate client while connections stall in their headers, and closes them', async () => {
    const stalled = [];
    for (let i = 0; i < SILENT; i++) {
      const s = await open();
      s.socket.write(`GET /volumes HTTP/1.1\r\nHost: ${host}\r\nAuthor`);
      stalled.push(s);
    }
    const honest = await honestRequest();
    expect(honest.names).toEqual(['flood']);
    expect(honest.ms).toBeLessThan(PENDING_DEADLINE_MS);
    const closedBy = await Promise.all(
      stalled.map((s) => Promise.race([s.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), PENDING_DEADLINE_MS * 3))])),
    );
    expect(closedBy.every(Boolean), 'every stalled connection is closed by the server').toBe(true);
  }, 60_000);

  it(`answers a legitimate client while more than ${MAX_CONTROL_CONNECTIONS} authorized connections sit idle`, async () => {
    const idle = [];
    for (let i = 0; i < MAX_CONTROL_CONNECTIONS + 36; i++) {
      const s = await open();
      const answered = new Promise<void>((done) => s.socket.once('data', () => done()));
      s.socket.write(`GET /volumes HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: keep-alive\r\n\r\n`);
      await Promise.race([answered, s.closed]);
      idle.push(s);
    }
    const honest = await honestRequest();
    expect(honest.names).toEqual(['flood']);
    // The server keeps no more of them than its admitted slots hold.
    const stillOpen = idle.filter((s) => !s.socket.destroyed && s.socket.readyState === 'open').length;
    expect(stillOpen).toBeLessThanOrEqual(MAX_CONTROL_CONNECTIONS);
  }, 60_000);
});
