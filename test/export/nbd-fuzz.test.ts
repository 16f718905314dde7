/**
 * Fuzz layer: a seeded fuzzer sends at least 10,000 random and mutated frames (handshake options
 * and transmission requests: bit flips, overwritten bytes, truncations, garbage) over many
 * connections. Afterwards the server must be alive, every fuzzed connection gone, no internal
 * error reported, and a well-behaved client must read and write the untouched 'golden' export
 * correctly. The seed is printed; SNAPTAPE_SEED=<seed> replays a run.
 *
 * It runs twice: against an in-memory export, and against a served CKD volume (VolumeBackend) on
 * which a tape backup is running, so every fuzzed write goes through the copy-before-write
 * interceptor; that backup must still complete and verify.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdCommand, NbdOption } from '../../src/export/nbd-constants.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import type { NbdServerEvent } from '../../src/export/nbd-server-events.js';
import { MemoryBackend } from './helpers/memory-backend.js';
import { join } from 'node:path';
import type { NbdExportBackend } from '../../src/export/nbd-backend.js';
import { VolumeBackend } from '../../src/export/volume-backend.js';
import { createVolume } from '../../src/api/volume-api.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { metaContextData, optionFrame, requestFrame } from './helpers/raw-peer.js';
import { SeededRandom, testSeed } from './helpers/seeded-random.js';
import { recordReliability } from '../harness/crash-child.js';

/** Frames per fuzz test: FUZZ_CASES (npm run fuzz and npm run reliability run 100,000), else CI's 10,000. */
const TARGET_FRAMES = Number.isInteger(Number(process.env['FUZZ_CASES'])) && Number(process.env['FUZZ_CASES']) > 0 ? Number(process.env['FUZZ_CASES']) : 10_000;
/** Time allowed per test, growing with the frames (10,000 take a few seconds here). */
const FUZZ_TIMEOUT_MS = 120_000 + TARGET_FRAMES * 10;
const PARALLEL_SESSIONS = 8;
const MAX_FRAMES_PER_SESSION = 200;
const SCRATCH_BYTES = 1024 * 1024;
const GOLDEN_BYTES = 256 * 1024;
const SESSION_CLOSE_TIMEOUT_MS = 5_000;

/**
 * Percent of frames that get a structural mutation. Low enough that a connection usually lives
 * through dozens of frames (whose fields are random anyway), high enough that most sessions end
 * on a broken frame.
 */
const MUTATION_PERCENT = 1;

/** Mutates a well-formed frame in one of several ways (only MUTATION_PERCENT of the time). */
function mutate(rng: SeededRandom, frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  if (rng.int(100) >= MUTATION_PERCENT) return out;
  switch (rng.int(6)) {
    case 0:
    case 1: {
      const flips = 1 + rng.int(3);
      for (let i = 0; i < flips && out.length > 0; i++) {
        const at = rng.int(out.length);
        out[at] = (out[at] ?? 0) ^ (1 << rng.int(8));
      }
      return out;
    }
    case 2:
      if (out.length > 0) out[rng.int(out.length)] = rng.int(256);
      return out;
    case 3:
      return out.subarray(0, rng.int(out.length + 1));
    case 4:
      return Buffer.concat([out, rng.bytes(rng.int(64))]);
    default:
      return rng.bytes(rng.int(64));
  }
}

function infoData(rng: SeededRandom, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const count = rng.int(4);
  const data = Buffer.alloc(4 + nameBytes.length + 2 + 2 * count);
  data.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(data, 4);
  data.writeUInt16BE(count, 4 + nameBytes.length);
  for (let i = 0; i < count; i++) data.writeUInt16BE(rng.int(5), 6 + nameBytes.length + 2 * i);
  return data;
}

/** Meta context queries: known contexts, namespaces, unknown names and garbage, 0 to 3 of them. */
function contextQueries(rng: SeededRandom): string[] {
  return Array.from({ length: rng.int(4) }, () =>
    rng.pick(['base:allocation', 'base:', 'snaptape:dirty:', 'qemu:dirty-bitmap:x', rng.bytes(rng.int(8)).toString('latin1')]),
  );
}

/** Half the transmission sessions agree structured replies and select base:allocation first. */
function structuredPrologue(rng: SeededRandom, name: string): Buffer {
  if (rng.int(2) === 0) return Buffer.alloc(0);
  return Buffer.concat([optionFrame(NbdOption.STRUCTURED_REPLY), optionFrame(NbdOption.SET_META_CONTEXT, metaContextData(name, ['base:allocation']))]);
}

function handshakeFrame(rng: SeededRandom): Buffer {
  // ABORT, GO and EXPORT_NAME end the handshake, so they are rarer than the options that keep it going.
  const ending = rng.int(20) === 0;
  const option = ending
    ? rng.pick([NbdOption.ABORT, NbdOption.GO, NbdOption.EXPORT_NAME])
    : rng.pick([
        NbdOption.LIST,
        NbdOption.INFO,
        NbdOption.STRUCTURED_REPLY,
        NbdOption.LIST_META_CONTEXT,
        NbdOption.SET_META_CONTEXT,
        NbdOption.STARTTLS,
        rng.int(64),
        rng.int(0x1_0000_0000),
      ]);
  const name = rng.pick(['scratch', '', 'missing']);
  const data =
    option === NbdOption.INFO || option === NbdOption.GO
      ? infoData(rng, name)
      : option === NbdOption.EXPORT_NAME
        ? Buffer.from(name)
        : option === NbdOption.LIST_META_CONTEXT || option === NbdOption.SET_META_CONTEXT
          ? metaContextData(name, contextQueries(rng))
          : option === NbdOption.STRUCTURED_REPLY && rng.int(2) === 0
            ? Buffer.alloc(0)
            : rng.bytes(rng.int(16));
  return mutate(rng, optionFrame(option >>> 0, data));
}

function transmissionFrame(rng: SeededRandom): Buffer {
  const type =
    rng.int(400) === 0
      ? NbdCommand.DISC
      : rng.pick([
          NbdCommand.READ,
          NbdCommand.READ,
          NbdCommand.WRITE,
          NbdCommand.WRITE,
          NbdCommand.FLUSH,
          NbdCommand.TRIM,
          NbdCommand.WRITE_ZEROES,
          NbdCommand.CACHE,
          NbdCommand.BLOCK_STATUS,
          NbdCommand.BLOCK_STATUS,
          8,
          rng.int(0x10000),
        ]);
  // A WRITE's declared length decides how many following bytes are payload, so huge ones are rare.
  const huge = rng.int(type === NbdCommand.WRITE ? 300 : 6) === 0;
  const length = huge ? rng.int(0x1_0000_0000) : rng.pick([0, 1, 512, 4096, rng.int(65536)]);
  const offsetBytes = rng.pick([0, scratchBytes - 512, scratchBytes, rng.int(scratchBytes), rng.int(2 ** 52)]);
  const header = requestFrame({ type, flags: rng.int(4) === 0 ? rng.int(0x10000) : rng.int(2), handle: rng.int(0x1_0000_0000), offsetBytes, length });
  const payload = type === NbdCommand.WRITE && length <= 65536 ? rng.bytes(length) : Buffer.alloc(0);
  return mutate(rng, Buffer.concat([header, payload]));
}

/** One fuzzed connection: greeting, flags, then a run of frames; returns how many frames were sent. */
async function fuzzSession(port: number, rng: SeededRandom, budget: number): Promise<number> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  let replies = 0;
  socket.on('data', (chunk: Buffer) => {
    replies += countReplyMagic(chunk);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  const frameCount = Math.min(budget, 1 + rng.int(MAX_FRAMES_PER_SESSION));
  const inTransmission = rng.int(10) < 7;
  const flags: Buffer = rng.int(20) === 0 ? rng.bytes(4) : Buffer.from('00000003', 'hex');
  const exportName = rng.pick(['scratch', '']);
  const prologue = inTransmission
    ? Buffer.concat([flags, structuredPrologue(rng, exportName), optionFrame(NbdOption.EXPORT_NAME, Buffer.from(exportName))])
    : flags;
  const frames: Buffer[] = [prologue];
  for (let i = 0; i < frameCount; i++) frames.push(inTransmission ? transmissionFrame(rng) : handshakeFrame(rng));
  if (!socket.destroyed) socket.write(Buffer.concat(frames));
  if (rng.int(4) === 0) socket.destroy();
  else socket.end();
  const timer = setTimeout(() => socket.destroy(new Error('session did not close in time')), SESSION_CLOSE_TIMEOUT_MS);
  await closed;
  clearTimeout(timer);
  repliesSeen += replies;
  return frameCount + 1;
}

/** Size of the fuzzed export (offsets are drawn around it). */
let scratchBytes = SCRATCH_BYTES;

/** Replies seen by all fuzz sessions (approximate: simple-reply and structured-chunk magics in the received bytes). */
let repliesSeen = 0;
const REPLY_MAGICS = [Buffer.from('67446698', 'hex'), Buffer.from('668e33ef', 'hex')];

function countReplyMagic(chunk: Buffer): number {
  let count = 0;
  // Bounded by the chunk length: each match moves past itself.
  for (const magic of REPLY_MAGICS) for (let at = chunk.indexOf(magic); at !== -1; at = chunk.indexOf(magic, at + 4)) count++;
  return count;
}

async function fuzzAgainst(scratch: NbdExportBackend, seed: number, label: string): Promise<void> {
  scratchBytes = scratch.sizeBytes;
  const golden = new MemoryBackend({ name: 'golden', sizeBytes: GOLDEN_BYTES, fill: (d) => new SeededRandom(seed ^ 0x5eed).bytes(d.length).copy(d) });
  const model = Buffer.from(golden.data);
  const server = new NbdServer({ exports: [scratch, golden], handshakeTimeoutMs: 1_000 });
  const events: NbdServerEvent[] = [];
  server.onEvent((event) => events.push(event));
  const { port } = await server.listen();

  let sent = 0;
  let sessions = 0;
  repliesSeen = 0;
  // Bounded: every session sends at least one frame, so the target is reached.
  while (sent < TARGET_FRAMES) {
    const batch: Array<Promise<number>> = [];
    for (let i = 0; i < PARALLEL_SESSIONS; i++) {
      const rng = new SeededRandom((seed + sessions++ * 0x9e3779b1) >>> 0);
      batch.push(fuzzSession(port, rng, MAX_FRAMES_PER_SESSION));
    }
    sent += (await Promise.all(batch)).reduce((a, b) => a + b, 0);
  }
  const reasons = new Map<string, number>();
  for (const e of events)
    if (e.kind === 'connection-closed') {
      const k = e.reason.replace(/[0-9a-fx]{3,}/g, 'N').slice(0, 60);
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }
  process.stdout.write(
    `nbd-fuzz (${label}): ${sent} frames over ${sessions} connections, about ${repliesSeen} replies; closes: ${JSON.stringify([...reasons])}\n`,
  );
  const internal = events.filter(
    (e) => (e.kind === 'protocol-error' && /internal error/.test(e.error.message)) || (e.kind === 'backend-error' && e.internal),
  ).length;
  // The fuzz must reach the transmission phase, not just die in the handshake.
  expect(repliesSeen).toBeGreaterThan(TARGET_FRAMES / 20);
  expect(sent).toBeGreaterThanOrEqual(TARGET_FRAMES);

  // Connections end on their own turn (the server yields between requests): a hang is one still open after 3 s.
  for (let waited = 0; waited < 3000 && server.connectionCount > 0; waited += 20) await new Promise((r) => setTimeout(r, 20));
  recordReliability({ kind: 'fuzz', parser: `NBD frames (${label})`, cases: sent, crashes: internal, hangs: server.connectionCount > 0 ? 1 : 0 });
  expect(server.connectionCount).toBe(0);
  expect(events.filter((e) => e.kind === 'protocol-error' && /internal error/.test(e.error.message))).toEqual([]);
  expect(events.filter((e) => e.kind === 'backend-error' && e.internal)).toEqual([]);
  expect(events.some((e) => e.kind === 'protocol-error')).toBe(true);

  const client = await NbdClient.connect({ port, exportName: 'golden' });
  expect((await client.read(0, GOLDEN_BYTES)).equals(model)).toBe(true);
  const patch = new SeededRandom(seed + 1).bytes(8192);
  await client.write(1000, patch);
  patch.copy(model, 1000);
  expect((await client.read(0, GOLDEN_BYTES)).equals(model)).toBe(true);
  await client.disconnect();
  await server.close();
}

describe('NBD server fuzz', () => {
  it(
    `survives ${TARGET_FRAMES} random and mutated frames`,
    async () => {
      const seed = testSeed();
      process.stdout.write(`nbd-fuzz seed=${seed} (replay with SNAPTAPE_SEED=${seed})\n`);
      await fuzzAgainst(new MemoryBackend({ name: 'scratch', sizeBytes: SCRATCH_BYTES, canTrim: true }), seed, 'memory export');
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `survives ${TARGET_FRAMES} frames on a served CKD volume while a tape backup runs on it`,
    async () => {
      const seed = testSeed();
      process.stdout.write(`nbd-fuzz (volume) seed=${seed} (replay with SNAPTAPE_SEED=${seed})\n`);
      const dir = makeTempDir();
      try {
        const volume = createVolume(join(dir.path, 'scratch.ckd'), { type: '3390', cylinders: 2, volser: 'FUZZ01' });
        fillVolume(volume, { seed, percent: 80 });
        // Slow enough that the fuzz's writes race the copy and go through copy-before-write.
        const session = TapeBackupSession.start(volume, { tapePath: join(dir.path, 'fuzz.aws'), workers: 1, throttleMbps: 1 });
        await fuzzAgainst(new VolumeBackend(volume, { name: 'scratch' }), seed, 'served CKD volume under backup');
        const summary = await session.done;
        expect(summary.verification.dataBlockCount).toBe(30);
        volume.close();
      } finally {
        dir.cleanup();
      }
    },
    FUZZ_TIMEOUT_MS,
  );
});
