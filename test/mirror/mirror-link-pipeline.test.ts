/**
 * Layer: behaviour. The background copy to a remote secondary keeps several batches in flight on
 * its link: it sends the next batch before the secondary has answered the one before. Seen on the
 * wire, never timed: a proxy between the primary (a `snaptape serve` child) and the secondary (an
 * NbdServer in this process) holds every answer of the secondary for a while, and counts the bytes
 * the primary sends between two answers. One batch at a time, that is at most one batch (1 MiB of
 * FBA blocks and a request header); pipelined, it is several. Host writes to the tracks being
 * copied go on meanwhile, and the secondary must end equal to the primary.
 */
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, expect, it } from 'vitest';
import { scatteredLength, type ScatteredBytes } from '../../src/base/scattered-bytes.js';
import { createVolume, openVolume } from '../../src/volume/open-volume.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { killAllServers, nbdPort } from '../server/helpers/serve-process.js';
import { Prng } from './mirror-fixtures.js';
import { serveOn, waitForMirror } from './remote-fixtures.js';

const FBA_BLOCKS = 16 * 2048; // 16 MiB: 16 batches of 1 MiB
const BATCH_BYTES = 1024 * 1024;
/** How long the proxy holds each answer of the secondary: far longer than sending a batch on loopback. */
const ANSWER_DELAY_MS = 150;

let dir: TempDir | undefined;
let server: NbdServer | undefined;
let proxy: Server | undefined;
afterEach(async () => {
  killAllServers();
  await server?.close();
  server = undefined;
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  proxy = undefined;
  dir?.cleanup();
  dir = undefined;
});

/** What the proxy saw: the most bytes the primary sent between two answers it passed on, and when marked data passed. */
interface Wire {
  mostBetweenAnswers: number;
  /** Byte values to look for (as a run of MARK_RUN bytes) on the way to the secondary, and when each first passed. */
  readonly marks: Map<number, number | undefined>;
}

/** A run this long of one byte value marks a probe's data: the primary's data has no such runs. */
const MARK_RUN = 64;

/** A TCP proxy to `target` that passes the primary's bytes at once and each answer after `delayMs`. */
async function delayingProxy(targetPort: number, delayMs: number, wire: Wire): Promise<number> {
  const sockets = new Set<Socket>();
  proxy = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    let sent = 0;
    let sentAtLastAnswer = 0;
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      for (const [value, at] of wire.marks) if (at === undefined && chunk.includes(Buffer.alloc(MARK_RUN, value))) wire.marks.set(value, performance.now());
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      // Same delay for every chunk: the answers keep their order.
      setTimeout(() => {
        wire.mostBetweenAnswers = Math.max(wire.mostBetweenAnswers, sent - sentAtLastAnswer);
        sentAtLastAnswer = sent;
        if (!client.destroyed) client.write(chunk);
      }, delayMs);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  proxy.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return address.port;
}

/**
 * An export that logs each write as it lands (the server decides them in the order they arrive;
 * a WRITE in flight lands through `writeAsync`, answered once it has landed).
 */
class LoggingBackend extends VolumeBackend {
  readonly landed: { offsetBytes: number; length: number; at: number }[] = [];
  onLanded: ((offsetBytes: number, length: number) => void) | undefined;
  override write(offsetBytes: number, data: Buffer): void {
    this.landed.push({ offsetBytes, length: data.length, at: performance.now() });
    super.write(offsetBytes, data);
    this.onLanded?.(offsetBytes, data.length);
  }
  override async writeAsync(offsetBytes: number, data: ScatteredBytes): Promise<void> {
    this.landed.push({ offsetBytes, length: scatteredLength(data), at: performance.now() });
    await super.writeAsync(offsetBytes, data);
    this.onLanded?.(offsetBytes, scatteredLength(data));
  }
}

/** A full FBA primary at `path` (random bytes past block 1), closed. */
function makePrimary(path: string, prng: Prng): void {
  const primary = createVolume(path, { type: 'fba', blocks: FBA_BLOCKS, volser: 'PRIM01' });
  const data = Buffer.alloc(BATCH_BYTES);
  for (let b = 2; b + 2048 <= FBA_BLOCKS; b += 2048) {
    for (let i = 0; i < data.length; i++) data[i] = prng.below(256);
    primary.writeBlocks(b, data);
  }
  primary.close();
}

interface Rig {
  readonly dir: TempDir;
  readonly primaryPath: string;
  readonly secondaryPath: string;
  readonly backend: LoggingBackend;
  readonly wire: Wire;
  readonly prim: Awaited<ReturnType<typeof serveOn>>;
  readonly host: NbdClient;
  close(): Promise<void>;
}

/** The primary in a serve child, the secondary here behind the delaying proxy, and a host client of the primary. */
async function rig(prng: Prng): Promise<Rig> {
  const temp = makeTempDir('snaptape-mirror-pipeline-');
  dir = temp;
  const primaryPath = join(temp.path, 'prim.fba');
  makePrimary(primaryPath, prng);
  const secondaryPath = join(temp.path, 'sec.fba');
  createVolume(secondaryPath, { type: 'fba', blocks: FBA_BLOCKS, volser: 'SEC001' }).close();
  const secondary = openVolume(secondaryPath, { readOnly: false });
  const backend = new LoggingBackend(secondary, { name: 'sec' });
  server = new NbdServer({ exports: [backend] });
  const { port } = await server.listen();
  const wire: Wire = { mostBetweenAnswers: 0, marks: new Map() };
  const proxyPort = await delayingProxy(port, ANSWER_DELAY_MS, wire);
  const prim = await serveOn(primaryPath, join(temp.path, 'prim.sock'));
  const host = await NbdClient.connect({ port: nbdPort(prim.server.info), exportName: 'prim' });
  await prim.control.startSession({ type: 'mirror', volume: 'prim', secondaries: [`127.0.0.1:${proxyPort}/sec`] });
  return {
    dir: temp,
    primaryPath,
    secondaryPath,
    backend,
    wire,
    prim,
    host,
    close: async () => {
      await host.disconnect();
      await prim.server.stop();
      await server?.close();
      server = undefined;
      secondary.close();
    },
  };
}

async function inSync(r: Rig): Promise<void> {
  const id = (await r.prim.control.listSessions()).find((s) => s.type === 'mirror')?.id;
  if (id === undefined) throw new Error('no mirror session');
  await waitForMirror(r.prim.control, id, (m) => m.inSync, 60_000);
}

it('sends the next batches before the secondary answers, and ends equal with host writes during the copy', async () => {
  const prng = new Prng(20);
  const r = await rig(prng);
  try {
    // Host writes across the whole volume while the copy runs: some land on batches in flight.
    for (let i = 0; i < 12; i++) {
      const block = 2 + prng.below(FBA_BLOCKS - 10);
      await r.host.write(block * 512, Buffer.alloc(4096, 1 + prng.below(255)));
    }
    await inSync(r);
    process.stdout.write(`most bytes sent between two answers: ${r.wire.mostBetweenAnswers}\n`);
    expect(r.wire.mostBetweenAnswers).toBeGreaterThan(2 * BATCH_BYTES);
  } finally {
    await r.close();
  }
  expect(readFileSync(r.secondaryPath).equals(readFileSync(r.primaryPath))).toBe(true);
}, 120_000);

it('sends a host write to a track of a batch in flight only after the secondary has answered that batch', async () => {
  const prng = new Prng(21);
  const r = await rig(prng);
  const probes: { landedAt: number; value: number; written: Promise<void> }[] = [];
  try {
    // As a batch lands on the secondary, its answer is held by the proxy: the batch is in flight
    // on the primary's link. A host write into it now must leave the primary only after that
    // answer (the proxy sees its marked bytes pass), so that however the secondary's server orders
    // requests in flight, the older batch cannot overwrite it.
    r.backend.onLanded = (offsetBytes, length) => {
      if (length < BATCH_BYTES / 2 || probes.length >= 4) return;
      const landedAt = r.backend.landed.at(-1)?.at ?? 0;
      const value = 0xa5 + probes.length;
      r.wire.marks.set(value, undefined);
      probes.push({ landedAt, value, written: r.host.write(offsetBytes + BATCH_BYTES / 2, Buffer.alloc(4096, value)) });
    };
    await inSync(r);
    await Promise.all(probes.map((p) => p.written));
    expect(probes.length).toBe(4);
    for (const p of probes) {
      const passed = r.wire.marks.get(p.value);
      expect(passed, `host write ${p.value} passed the proxy`).toBeDefined();
      const after = (passed ?? 0) - p.landedAt;
      process.stdout.write(`host write ${p.value}: sent ${after.toFixed(0)} ms after its batch landed\n`);
      expect(after).toBeGreaterThanOrEqual(ANSWER_DELAY_MS - 2);
    }
  } finally {
    await r.close();
  }
  expect(readFileSync(r.secondaryPath).equals(readFileSync(r.primaryPath))).toBe(true);
}, 120_000);
