/**
 * The control API on a unix socket under connection churn, against a `snaptape serve` child
 * process: another local process (a child of its own, so that the server and it compete as two
 * processes do) opens and closes connections as fast as it can, or holds connections that never send
 * a request, or holds connections idle after one request. Meanwhile an honest client makes requests,
 * each on a new connection that sends its request at once (as the CLI does): every one of them must
 * be answered, and answered 200; an event stream open meanwhile is never the connection dropped.
 * The bound on connections stays (the churner is not served without limit: it is the one dropped).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/api/control-client.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, makeFilledVolume, startServe } from './helpers/serve-process.js';

/** Honest requests per case. */
const HONEST_REQUESTS = 150;

/**
 * The churning process. Modes: `churn` opens about 2,000 connections a second, closing each 100 ms
 * after it is made, without a request; `flood` keeps 64 connects in flight, each closed at once
 * (faster than the server accepts: the socket's listen queue may overflow, and connects then fail
 * with EAGAIN); `silent` holds 300 connections that never send a byte; `idle` holds 300 connections that
 * each made one keep-alive request and then sit idle; `stall` holds 300 connections that each sent
 * the headers of a POST and the start of its body, and then send nothing more. A dropped connection is replaced at once, so
 * `silent` and `idle` churn too. It prints "ready" once started and "made N" when told to stop.
 */
const CHURNER = `
const net = require('node:net');
const [socketPath, mode] = process.argv.slice(1);
let made = 0;
let stopping = false;
const width = 300;
function open() {
  if (stopping) return;
  const s = net.connect(socketPath);
  s.on('error', () => undefined);
  s.on('data', () => undefined);
  if (mode !== 'churn') s.on('close', () => setImmediate(open));
  s.on('connect', () => {
    made++;
    if (mode === 'churn') setTimeout(() => s.destroy(), 100);
    else if (mode === 'flood') s.destroy();
    else if (mode === 'idle') s.write('GET /volumes HTTP/1.1\\r\\nHost: x\\r\\nConnection: keep-alive\\r\\n\\r\\n');
    else if (mode === 'stall') s.write('POST /sessions HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\nContent-Length: 100\\r\\n\\r\\n{"technique":');
  });
}
if (mode === 'flood') {
  // As fast as it can: 64 connects in flight, each closed at once and made again.
  for (let i = 0; i < 64; i++) open();
} else if (mode === 'churn') {
  // About 2,000 connections a second (what was measured dropping honest clients), each closed 100 ms after it is made.
  setInterval(() => { for (let i = 0; i < 20; i++) open(); }, 10);
} else for (let i = 0; i < width; i++) open();
process.stdout.write('ready\\n');
process.stdin.on('data', () => { stopping = true; process.stdout.write('made ' + made + '\\n'); process.exit(0); });
`;

/** One GET /volumes on a connection of its own: the status, or the error that ended it. */
function honestGet(socketPath: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/volumes', method: 'GET', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', (error) => resolve(error.message));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', (error) => resolve(error.message));
    req.end();
  });
}

describe('snaptape serve: an honest control request is answered while another process churns connections', () => {
  let dir: TempDir;
  let socket: string;
  let churner: ChildProcess | undefined;

  beforeAll(async () => {
    dir = makeTempDir('snaptape-ctl-churn-');
    const image = makeFilledVolume(dir.path, 'churn.ckd', { cylinders: 5, volser: 'CHURN1' });
    socket = join(dir.path, 'ctl.sock');
    await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
  });

  afterEach(() => {
    if (churner && churner.exitCode === null) churner.kill('SIGKILL');
    churner = undefined;
  });

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  /** Starts the churner, makes the honest requests, stops it; returns what each request got and the connections it made. */
  async function underChurn(
    mode: 'churn' | 'silent' | 'idle' | 'stall' | 'flood',
    honest: () => Promise<number | string> = () => honestGet(socket),
  ): Promise<{ answers: (number | string)[]; made: number; seconds: number }> {
    const child = spawn(process.execPath, ['-e', CHURNER, socket, mode], { stdio: ['pipe', 'pipe', 'inherit'] });
    churner = child;
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (out += text));
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', () => {
        if (out.includes('ready')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`the churner exited (${code})`)));
    });
    const churning = Date.now();
    // Let it fill the server's connections first.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const answers: (number | string)[] = [];
    for (let i = 0; i < HONEST_REQUESTS; i++) answers.push(await honest());
    const seconds = (Date.now() - started) / 1000;
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.stdin?.write('stop\n');
    await exited;
    const made = Number(/made (\d+)/.exec(out)?.[1] ?? 0);
    const kinds = new Map<string, number>();
    for (const a of answers) kinds.set(String(a).replace(/ \/.*$/, ''), (kinds.get(String(a).replace(/ \/.*$/, '')) ?? 0) + 1);
    console.log(
      `[control-churn] ${mode}: ${made} churner connections (${Math.round(made / ((Date.now() - churning) / 1000))}/s); ${HONEST_REQUESTS} honest requests in ${seconds.toFixed(2)} s: ${[...kinds].map(([k, n]) => `${k} ×${n}`).join(', ')}`,
    );
    return { answers, made, seconds };
  }

  /** An event stream (GET /events): open until `close()`; `closed` says whether the server ended it first. */
  async function openEventStream(): Promise<{ readonly closed: () => boolean; close(): void }> {
    let ended = false;
    const req = request({ socketPath: socket, path: '/events', method: 'GET', agent: false });
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    expect(response.statusCode).toBe(200);
    response.resume();
    response.on('close', () => (ended = true));
    req.on('error', () => undefined);
    return { closed: () => ended, close: () => req.destroy() };
  }

  for (const mode of ['churn', 'silent', 'idle', 'stall'] as const) {
    it(`every honest request is answered 200, and an event stream stays open (churner: ${mode})`, async () => {
      const stream = await openEventStream();
      try {
        const { answers, made } = await underChurn(mode);
        const failed = answers.map((a, i) => [i, a] as const).filter(([, a]) => a !== 200);
        expect(made, 'the churner did make connections').toBeGreaterThan(0);
        expect(failed, 'honest requests not answered 200 (index, status or error)').toEqual([]);
        expect(stream.closed(), 'an event stream in progress is never the connection dropped').toBe(false);
      } finally {
        stream.close();
      }
    });
  }

  it("the CLI's client is answered every time while another process floods the socket as fast as it can", async () => {
    const client = new ControlClient({ kind: 'unix', socketPath: socket });
    const { answers } = await underChurn('flood', () =>
      client.listVolumes().then(
        (volumes) => (volumes.length === 1 ? 200 : `${volumes.length} volumes`),
        (error: Error) => error.message,
      ),
    );
    const failed = answers.map((a, i) => [i, a] as const).filter(([, a]) => a !== 200);
    expect(failed, 'requests not answered (index, error)').toEqual([]);
  });
});

/**
 * A control server stand-in whose connection queue is full for a while: it listens with a backlog
 * of 1, and on "block" (stdin) holds its event loop for 1 s, so that connects made meanwhile fail
 * with EAGAIN once the queue is full; afterwards it answers GET /volumes with no volumes.
 */
const SLOW_ACCEPTOR = `
const http = require('node:http');
const server = http.createServer((q, r) => { r.setHeader('content-type', 'application/json'); r.end('{"volumes":[]}'); });
server.listen({ path: process.argv[1], backlog: 1 }, () => process.stdout.write('ready\\n'));
process.stdin.on('data', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000));
`;

describe("the CLI's control client, when the server's connection queue is full", () => {
  let dir: TempDir;
  let child: ChildProcess | undefined;

  beforeAll(() => {
    dir = makeTempDir('snaptape-ctl-queue-');
  });

  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    dir.cleanup();
  });

  it('connects again (EAGAIN) until the server takes the connection, and is answered', async () => {
    const socketPath = join(dir.path, 'slow.sock');
    const server = spawn(process.execPath, ['-e', SLOW_ACCEPTOR, socketPath], { stdio: ['pipe', 'pipe', 'inherit'] });
    child = server;
    let out = '';
    server.stdout?.setEncoding('utf8').on('data', (text: string) => (out += text));
    const until = async (word: string): Promise<void> => {
      while (!out.includes(word)) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    await until('ready');
    server.stdin?.write('block\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Fill the queue: connects beyond the backlog fail with EAGAIN while the server does not accept.
    const fillers: Socket[] = [];
    let queueFull = false;
    for (let i = 0; i < 8 && !queueFull; i++) {
      const filler = connect(socketPath);
      fillers.push(filler);
      queueFull = await new Promise<boolean>((resolve) => {
        filler.once('connect', () => resolve(false));
        filler.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EAGAIN'));
      });
    }
    expect(queueFull, 'the connection queue is full').toBe(true);
    const client = new ControlClient({ kind: 'unix', socketPath });
    const asked = Date.now();
    const answer = await client.listVolumes().catch((error: Error) => error.message);
    expect(answer).toEqual([]);
    expect(Date.now() - asked, 'the answer came once the server took connections again').toBeGreaterThan(300);
    for (const filler of fillers) filler.destroy();
    server.kill('SIGKILL');
  });
});

describe("the CLI's control client, when the server drops its kept-alive connection", () => {
  let dir: TempDir;
  let server: Server | undefined;

  beforeAll(() => {
    dir = makeTempDir('snaptape-ctl-reuse-');
  });

  afterAll(() => {
    server?.closeAllConnections();
    server?.close();
    dir.cleanup();
  });

  it('asks again on a new connection when the one it reused was dropped before its request was read', async () => {
    const socketPath = join(dir.path, 'reuse.sock');
    // A stand-in for a server that drops the connection idle longest (or ends it at its keep-alive
    // timeout) just as the client sends its next request on it: each connection answers one request.
    const served = new WeakMap<Socket, number>();
    const listening = createServer((q, r) => {
      const n = (served.get(q.socket) ?? 0) + 1;
      served.set(q.socket, n);
      if (n > 1) {
        q.socket.destroy();
        return;
      }
      if (q.url?.startsWith('/events') === true) {
        r.writeHead(200, { 'content-type': 'text/event-stream' });
        r.end();
        return;
      }
      r.setHeader('content-type', 'application/json');
      r.end('{"volumes":[]}');
    });
    server = listening;
    await new Promise<void>((resolve) => listening.listen(socketPath, resolve));
    const client = new ControlClient({ kind: 'unix', socketPath });
    const answers: unknown[] = [];
    for (let i = 0; i < 3; i++) answers.push(await client.listVolumes().catch((error: Error) => error.message));
    expect(answers, 'every request answered, none "socket hang up"').toEqual([[], [], []]);
    // The event stream too, opened after a request on the connection it reuses.
    await client.listVolumes();
    const stream = await client.events({}, () => undefined).catch((error: Error) => error.message);
    expect(typeof stream === 'string' ? stream : 'opened').toBe('opened');
    if (typeof stream !== 'string') {
      stream.close();
      await stream.ended;
    }
  });
  it('asks again when the server closed the connection it reuses just before the request went out (EPIPE)', async () => {
    const socketPath = join(dir.path, 'closed.sock');
    // The server ends a kept-alive connection (its keep-alive timeout) in the same instant as the
    // client's next request goes out on it: on a Unix socket the write fails with EPIPE (seen once
    // in test/server/session-map.test.ts under load). Here the stand-in closes every connection it
    // answered right after the answer arrives, before the client has seen the close.
    const answered: Socket[] = [];
    const raw = createNetServer((socket: Socket) => {
      socket.once('data', () => {
        const body = '{"volumes":[]}';
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`);
        answered.push(socket);
      });
    });
    await new Promise<void>((resolve) => raw.listen(socketPath, resolve));
    try {
      const client = new ControlClient({ kind: 'unix', socketPath });
      const answers: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        answers.push(await client.listVolumes().catch((error: Error) => error.message));
        for (const socket of answered.splice(0)) socket.destroy();
      }
      expect(answers, 'every request answered, none "write EPIPE"').toEqual([[], [], []]);
    } finally {
      raw.close();
    }
  });
});
