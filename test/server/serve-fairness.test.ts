/**
 * Fair and bounded servers, against a `snaptape serve` child process: clients that hold
 * connections without credentials or sit idle do not lock others out; a client that pipelines a
 * flood of requests and resets does not stall the others; large WRITE_ZEROES do not hold the loop;
 * SIGTERM ends the server in bounded time during a flood; a malformed URL gets a 400.
 *
 * The flooding peers are raw sockets with hand-built frames; the measured client is the project's
 * own NbdClient. Latencies are wall-clock times seen by the client, so a server that holds its
 * event loop shows up in them whatever it is doing.
 */
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdCommand } from '../../src/export/nbd-constants.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runSnaptape } from '../harness/run-cli.js';
import { recordReliability } from '../harness/crash-child.js';
import { RawPeer, requestFrame } from '../export/helpers/raw-peer.js';
import { killAllServers, makeFilledVolume, nbdPort as nbdPortOf, startServe, type ServeProcess } from './helpers/serve-process.js';
import { rawRequest, type RawTarget } from './helpers/http-request.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A request slower than this counts as stalled; the sample is recorded at this value. */
const STALL_CAP_MS = 3_000;
const READ_BYTES = 4096;
const TOKEN = 'fairness-token-0123456789';

/** Resolves with the value, or with `fallback` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function p99(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(sorted.length * 0.99) - 1)] ?? Infinity;
}

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Infinity;
}

/** Sequential 4 KiB READs until `endAt`; returns each one's latency (a stalled read ends the run). */
async function readLatencies(client: NbdClient, endAt: number, spanBytes: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; performance.now() < endAt; i++) {
    const offset = ((i * 7919) % Math.floor(spanBytes / READ_BYTES)) * READ_BYTES;
    const start = performance.now();
    const served = await within(
      client.read(offset, READ_BYTES).then(
        () => true,
        () => false,
      ),
      STALL_CAP_MS,
      false,
    );
    latencies.push(served ? performance.now() - start : STALL_CAP_MS);
    if (!served) break;
  }
  return latencies;
}

/** `count` copies of one request frame, as one buffer to pipeline. */
function pipelined(frame: Buffer, count: number): Buffer {
  const out = Buffer.allocUnsafe(frame.length * count);
  for (let i = 0; i < count; i++) frame.copy(out, i * frame.length);
  return out;
}

/** A raw peer in the transmission phase of `exportName`, or undefined when the server refused it. */
async function transmittingPeer(port: number, exportName: string): Promise<RawPeer | undefined> {
  try {
    const peer = await RawPeer.connect(port);
    const reply = await within(peer.enterTransmission(exportName), STALL_CAP_MS, undefined);
    if (reply === undefined) {
      peer.destroy();
      return undefined;
    }
    return peer;
  } catch {
    return undefined;
  }
}

async function controlGetMs(target: RawTarget, headers: Record<string, string> = {}): Promise<number> {
  const start = performance.now();
  const ok = await within(
    rawRequest(target, 'GET', '/volumes', { headers }).then(
      (r) => r.status === 200,
      () => false,
    ),
    STALL_CAP_MS,
    false,
  );
  return ok ? performance.now() - start : STALL_CAP_MS;
}

describe('snaptape serve: one client cannot stall or lock out the others', () => {
  let dir: TempDir;
  let server: ServeProcess;
  let nbdPort: number;
  let control: RawTarget;
  let exportSize: number;
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    dir = makeTempDir('snaptape-serve-fair-');
    const image = makeFilledVolume(dir.path, 'fair.ckd', { volser: 'FAIR01' });
    server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', '127.0.0.1:0'], { env: { SNAPTAPE_TOKEN: TOKEN } });
    nbdPort = nbdPortOf(server.info);
    exportSize = server.info.nbd.exports[0]?.sizeBytes ?? 0;
    const c = server.info.control;
    if (c.kind !== 'tcp') throw new Error('the control listener is TCP here');
    control = { host: c.host, port: c.port };
  });

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  it('GET /sessions/% (bad percent-encoding) answers 400 with a JSON error', async () => {
    const response = await rawRequest(control, 'GET', '/sessions/%', { headers: auth });
    expect(response.status).toBe(400);
    expect((response.body as { error: { code: string; message: string } }).error).toMatchObject({ code: 'BAD_REQUEST' });
    expect((response.body as { error: { message: string } }).error.message).toMatch(/percent-encoding|URL/);
  });

  it('a client that pipelines 64 MiB of READs and resets does not stall another client (READ p99 < 50 ms)', async () => {
    const victim = await NbdClient.connect({ port: nbdPort, exportName: 'fair' });
    try {
      const attacker = await transmittingPeer(nbdPort, 'fair');
      expect(attacker).toBeDefined();
      // 1 MiB READs, never read back: 64 MiB of headers sit in the socket buffers and the server.
      const flood = pipelined(requestFrame({ type: NbdCommand.READ, offsetBytes: 0, length: 1 << 20 }), Math.floor((64 << 20) / 28));
      attacker?.socket.write(flood);
      await sleep(300);
      attacker?.socket.resetAndDestroy();
      const latencies = await readLatencies(victim, performance.now() + 1500, exportSize);
      const controlMs = await controlGetMs(control, auth);
      recordReliability({
        kind: 'fairness',
        case: 'a client pipelines 64 MiB of 1 MiB READs, then resets',
        measured: "another client's READ p99",
        value: p99(latencies),
        unit: 'ms',
        bound: '< 50 ms',
      });
      recordReliability({ kind: 'fairness', case: 'the same, then', measured: 'an authenticated control GET', value: controlMs, unit: 'ms', bound: '< 1 s' });
      expect(p99(latencies)).toBeLessThan(50);
      expect(controlMs).toBeLessThan(1000);
    } finally {
      victim.destroy();
    }
  });

  // Each WRITE_ZEROES zeroes ~300 CKD tracks (hundreds of ms of host writes when done in one go);
  // the other client waits for at most one step of it. The server is CPU-bound throughout, so
  // the bound leaves room for a loaded machine's scheduling, and the median shows the steps.
  it("100 pipelined WRITE_ZEROES of the whole export do not hold another client's READ", async () => {
    const victim = await NbdClient.connect({ port: nbdPort, exportName: 'fair' });
    const attacker = await transmittingPeer(nbdPort, 'fair');
    try {
      expect(attacker).toBeDefined();
      attacker?.socket.write(pipelined(requestFrame({ type: NbdCommand.WRITE_ZEROES, offsetBytes: 0, length: exportSize }), 100));
      await sleep(50);
      const latencies = await readLatencies(victim, performance.now() + 1500, exportSize);
      recordReliability({
        kind: 'fairness',
        case: '100 pipelined WRITE_ZEROES of the whole export',
        measured: "another client's READ median",
        value: median(latencies),
        unit: 'ms',
        bound: '< 20 ms (p99 < 200 ms)',
      });
      expect(p99(latencies)).toBeLessThan(200);
      expect(median(latencies)).toBeLessThan(20);
    } finally {
      attacker?.destroy();
      victim.destroy();
    }
  });

  it('200 idle NBD clients (after the handshake) do not lock out a new client', async () => {
    const idle = await Promise.all(Array.from({ length: 200 }, () => transmittingPeer(nbdPort, 'fair')));
    try {
      const start = performance.now();
      const served = await within(
        (async () => {
          const client = await NbdClient.connect({ port: nbdPort, exportName: 'fair' });
          try {
            return (await client.read(0, READ_BYTES)).length === READ_BYTES;
          } finally {
            client.destroy();
          }
        })().catch(() => false),
        STALL_CAP_MS,
        false,
      );
      const servedMs = performance.now() - start;
      recordReliability({
        kind: 'fairness',
        case: '200 idle NBD clients after the handshake',
        measured: 'a new client connected and served',
        value: servedMs,
        unit: 'ms',
        bound: '< 1 s',
      });
      expect(served).toBe(true);
      expect(servedMs).toBeLessThan(1000);
    } finally {
      for (const peer of idle) peer?.destroy();
    }
  });

  it('200 unauthenticated control clients do not lock out an authenticated request', async () => {
    const attackers = new Set<Socket>();
    let running = true;
    // Half sit silent; half keep sending requests without a token. Each reconnects when dropped.
    const attack = (index: number): void => {
      if (!running) return;
      const socket = connect(control.port ?? 0, control.host);
      attackers.add(socket);
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      socket.on('close', () => {
        attackers.delete(socket);
        setTimeout(() => attack(index), 500);
      });
      if (index % 2 === 1) {
        const timer = setInterval(() => {
          if (!socket.destroyed) socket.write('GET /volumes HTTP/1.1\r\nHost: x\r\n\r\n');
        }, 250);
        socket.on('close', () => clearInterval(timer));
      }
    };
    for (let i = 0; i < 200; i++) attack(i);
    try {
      await sleep(300);
      const samples: number[] = [];
      const endAt = performance.now() + 3000;
      while (performance.now() < endAt) {
        samples.push(await controlGetMs(control, auth));
        await sleep(100);
      }
      const worst = samples.reduce((m, x) => Math.max(m, x), 0);
      recordReliability({
        kind: 'fairness',
        case: '200 control clients without the token',
        measured: 'worst authenticated GET over 3 s',
        value: worst,
        unit: 'ms',
        bound: '< 1 s',
      });
      expect(worst).toBeLessThan(1000);
    } finally {
      running = false;
      for (const socket of attackers) socket.destroy();
    }
  });
});

describe('snaptape serve: bounded idle time and shutdown', () => {
  let dir: TempDir;

  beforeAll(() => {
    dir = makeTempDir('snaptape-serve-bound-');
  });

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  it('--nbd-idle-timeout closes a client idle after the handshake, and keeps a busy one', async () => {
    const image = makeFilledVolume(dir.path, 'idle.ckd', { volser: 'IDLE01' });
    const server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', join(dir.path, 'idle.sock'), '--nbd-idle-timeout', '1']);
    try {
      const port = nbdPortOf(server.info);
      const idle = await transmittingPeer(port, 'idle');
      const busy = await NbdClient.connect({ port, exportName: 'idle' });
      expect(idle).toBeDefined();
      for (let i = 0; i < 8; i++) {
        await sleep(300);
        expect((await busy.read(0, READ_BYTES)).length).toBe(READ_BYTES);
      }
      expect(await idle?.closedWithin(1500)).toBe(true);
      busy.destroy();
    } finally {
      await server.stop();
    }
  });

  it('--nbd-idle-timeout refuses a value that is not a positive number of seconds', () => {
    const image = makeFilledVolume(dir.path, 'badidle.ckd', { volser: 'BADID1' });
    for (const value of ['abc', '0', '-5']) {
      const result = runSnaptape([
        'serve',
        image,
        '--nbd',
        '127.0.0.1:0',
        '--insecure-tcp',
        '--control',
        join(dir.path, 'badidle.sock'),
        '--nbd-idle-timeout',
        value,
      ]);
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/Cannot parse --nbd-idle-timeout/);
    }
    expect(existsSync(`${image}.lock`)).toBe(false);
  });

  it('SIGTERM during a flood and a reset ends the server within 5 s and removes its lock', async () => {
    const image = makeFilledVolume(dir.path, 'flood.ckd', { volser: 'FLOOD1' });
    const server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', join(dir.path, 'flood.sock')]);
    const port = nbdPortOf(server.info);
    const size = server.info.nbd.exports[0]?.sizeBytes ?? 0;
    const reader = await transmittingPeer(port, 'flood');
    const zeroer = await transmittingPeer(port, 'flood');
    const resetter = await transmittingPeer(port, 'flood');
    expect(reader && zeroer && resetter).toBeTruthy();
    const read = requestFrame({ type: NbdCommand.READ, offsetBytes: 0, length: 1 << 20 });
    reader?.socket.write(pipelined(read, Math.floor((16 << 20) / 28)));
    zeroer?.socket.write(pipelined(requestFrame({ type: NbdCommand.WRITE_ZEROES, offsetBytes: 0, length: size }), 1000));
    resetter?.socket.write(pipelined(read, Math.floor((64 << 20) / 28)));
    await sleep(300);
    resetter?.socket.resetAndDestroy();
    const start = performance.now();
    server.child.kill('SIGTERM');
    const status = await within(server.exited, 8000, undefined);
    const elapsed = performance.now() - start;
    reader?.destroy();
    zeroer?.destroy();
    if (status === undefined) server.child.kill('SIGKILL');
    expect(status).toBeDefined();
    expect(elapsed).toBeLessThan(5000);
    expect(existsSync(`${image}.lock`)).toBe(false);
  });

  it('a second SIGTERM during a slow shutdown exits at once with status 1, and still removes the lock', async () => {
    const image = makeFilledVolume(dir.path, 'twice.ckd', { volser: 'TWICE1' });
    const socket = join(dir.path, 'twice.sock');
    const server = await startServe([image, '--nbd', '127.0.0.1:0', '--insecure-tcp', '--control', socket]);
    const port = nbdPortOf(server.info);
    // A client that never reads its 16 MiB reply, nor answers the server's end of the connection,
    // holds the NBD drain for its whole bound (2 s).
    const stuck = await transmittingPeer(port, 'twice');
    if (stuck !== undefined) stuck.socket.allowHalfOpen = true;
    stuck?.socket.pause();
    stuck?.socket.write(requestFrame({ type: NbdCommand.READ, offsetBytes: 0, length: 16 << 20 }));
    await sleep(300);
    server.child.kill('SIGTERM');
    // Two signals close together may arrive as one: the second goes once shutdown has visibly
    // begun (the control socket goes before the NBD drain).
    for (let i = 0; i < 100 && existsSync(socket); i++) await sleep(10);
    expect(existsSync(socket)).toBe(false);
    server.child.kill('SIGTERM');
    const status = await within(server.exited, 5000, undefined);
    stuck?.destroy();
    expect(status).toEqual({ code: 1, signal: null });
    expect(existsSync(`${image}.lock`)).toBe(false);
  });
});
