/**
 * Property layer: 16 concurrent NbdClient connections doing random pipelined reads, writes and
 * write-zeroes, checked against a plain-Buffer shadow model.
 *
 * - Own regions: each client owns a slice and pipelines requests in it. Requests on one
 *   connection execute in order, so the model (updated when a request is sent) is exact.
 * - Shared region: all clients hit overlapping ranges. A recording wrapper notes the order in which
 *   the backend applied requests; replaying that order over the model must reproduce every read the
 *   backend served, every client-sent write must appear exactly once, every byte a client received
 *   must be what the backend served, and the final export must equal the replayed model.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { NbdExportBackend } from '../../src/export/nbd-backend.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { MemoryBackend } from './helpers/memory-backend.js';
import { SeededRandom, testSeed } from './helpers/seeded-random.js';

const CLIENTS = 16;
const OPS_PER_CLIENT = 150;
const MAX_OP_BYTES = 64 * 1024;
const PIPELINE_DEPTH = 8;

type LogEntry =
  | { readonly op: 'write'; readonly offsetBytes: number; readonly data: Buffer }
  | { readonly op: 'zero'; readonly offsetBytes: number; readonly length: number }
  | { readonly op: 'read'; readonly offsetBytes: number; readonly result: Buffer };

/** Records the order in which requests reach the backend (the server's serialisation order). */
class RecordingBackend implements NbdExportBackend {
  readonly log: LogEntry[] = [];
  constructor(private readonly inner: MemoryBackend) {}
  get name(): string {
    return this.inner.name;
  }
  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  get canTrim(): boolean {
    return false;
  }
  read(offsetBytes: number, length: number): Buffer {
    const result = this.inner.read(offsetBytes, length);
    this.log.push({ op: 'read', offsetBytes, result: Buffer.from(result) });
    return result;
  }
  write(offsetBytes: number, data: Buffer): void {
    this.log.push({ op: 'write', offsetBytes, data: Buffer.from(data) });
    this.inner.write(offsetBytes, data);
  }
  writeZeroes(offsetBytes: number, length: number): void {
    this.log.push({ op: 'zero', offsetBytes, length });
    this.inner.writeZeroes(offsetBytes, length);
  }
  flush(): void {
    this.inner.flush();
  }
}

const sha = (data: Buffer): string => createHash('sha1').update(data).digest('hex');

let server: NbdServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Runs `count` random ops on one client inside [base, base + span), at most PIPELINE_DEPTH in flight. */
async function randomOps(
  client: NbdClient,
  rng: SeededRandom,
  region: { base: number; span: number },
  onOp: {
    write(offset: number, data: Buffer): void;
    zero(offset: number, length: number): void;
    read(offset: number, length: number): (data: Buffer) => void;
  },
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < OPS_PER_CLIENT; i++) {
    const length = 1 + rng.int(Math.min(MAX_OP_BYTES, region.span));
    const offset = region.base + rng.int(region.span - length + 1);
    const dice = rng.int(10);
    let op: Promise<void>;
    if (dice < 4) {
      const data = rng.bytes(length);
      onOp.write(offset, data);
      op = client.write(offset, data);
    } else if (dice < 5) {
      onOp.zero(offset, length);
      op = client.writeZeroes(offset, length);
    } else {
      const check = onOp.read(offset, length);
      op = client.read(offset, length).then(check);
    }
    const tracked: Promise<void> = op.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= PIPELINE_DEPTH) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

describe('NBD server under 16 concurrent clients', () => {
  it("keeps each client's own region exact under pipelining", async () => {
    const seed = testSeed();
    process.stdout.write(`nbd-concurrency own-regions seed=${seed} (replay with SNAPTAPE_SEED=${seed})\n`);
    const regionBytes = 256 * 1024;
    const backend = new MemoryBackend({ name: 'own', sizeBytes: CLIENTS * regionBytes, fill: (d) => new SeededRandom(seed ^ 1).bytes(d.length).copy(d) });
    const model = Buffer.from(backend.data);
    server = new NbdServer({ exports: [backend] });
    const { port } = await server.listen();
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => NbdClient.connect({ port, exportName: 'own' })));
    const mismatches: string[] = [];
    await Promise.all(
      clients.map((client, index) => {
        const rng = new SeededRandom(seed + index);
        return randomOps(
          client,
          rng,
          { base: index * regionBytes, span: regionBytes },
          {
            write: (offset, data) => {
              data.copy(model, offset);
            },
            zero: (offset, length) => {
              model.fill(0, offset, offset + length);
            },
            read: (offset, length) => {
              const expected = Buffer.from(model.subarray(offset, offset + length));
              return (data) => {
                if (!data.equals(expected)) mismatches.push(`client ${index} read ${offset}+${length}`);
              };
            },
          },
        );
      }),
    );
    expect(mismatches).toEqual([]);
    expect(backend.data.equals(model)).toBe(true);
    const checker = await NbdClient.connect({ port, exportName: 'own' });
    expect((await checker.read(0, backend.sizeBytes)).equals(model)).toBe(true);
    await Promise.all([...clients, checker].map((client) => client.disconnect()));
  });

  it('serialises overlapping requests consistently with a replayed model', async () => {
    const seed = testSeed();
    process.stdout.write(`nbd-concurrency shared-region seed=${seed} (replay with SNAPTAPE_SEED=${seed})\n`);
    const sizeBytes = 512 * 1024;
    const initial = new SeededRandom(seed ^ 2).bytes(sizeBytes);
    const inner = new MemoryBackend({ name: 'shared', sizeBytes, fill: (d) => initial.copy(d) });
    const backend = new RecordingBackend(inner);
    server = new NbdServer({ exports: [backend] });
    const { port } = await server.listen();
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => NbdClient.connect({ port, exportName: 'shared' })));
    const sentWrites = new Map<string, number>();
    const receivedReads = new Map<string, number>();
    const bump = (map: Map<string, number>, key: string): void => {
      map.set(key, (map.get(key) ?? 0) + 1);
    };
    await Promise.all(
      clients.map((client, index) =>
        randomOps(
          client,
          new SeededRandom(seed * 31 + index),
          { base: 0, span: sizeBytes },
          {
            write: (offset, data) => bump(sentWrites, `${offset}:${sha(data)}`),
            zero: () => undefined,
            read: (offset) => (data) => bump(receivedReads, `${offset}:${sha(data)}`),
          },
        ),
      ),
    );

    const model = Buffer.from(initial);
    const loggedWrites = new Map<string, number>();
    const servedReads = new Map<string, number>();
    let badReads = 0;
    for (const entry of backend.log) {
      if (entry.op === 'write') {
        bump(loggedWrites, `${entry.offsetBytes}:${sha(entry.data)}`);
        entry.data.copy(model, entry.offsetBytes);
      } else if (entry.op === 'zero') model.fill(0, entry.offsetBytes, entry.offsetBytes + entry.length);
      else {
        if (!entry.result.equals(model.subarray(entry.offsetBytes, entry.offsetBytes + entry.result.length))) badReads++;
        bump(servedReads, `${entry.offsetBytes}:${sha(entry.result)}`);
      }
    }
    expect(badReads).toBe(0);
    expect(loggedWrites).toEqual(sentWrites);
    expect(receivedReads).toEqual(servedReads);
    const checker = await NbdClient.connect({ port, exportName: 'shared' });
    expect((await checker.read(0, sizeBytes)).equals(model)).toBe(true);
    await Promise.all([...clients, checker].map((client) => client.disconnect()));
  });
});
