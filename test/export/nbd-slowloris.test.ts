/**
 * Layers: protocol engine (NbdServer on TCP). A slowloris fills the server with connections that
 * never finish their handshake, each sending a byte now and then so that it never looks idle,
 * and opens more as they are dropped. A client that finished its handshake and then rests between
 * requests (as a mounted disk does) must keep its connection: when full, the server drops a
 * connection still in its handshake, the one that has been in it longest, before any connection
 * in transmission. A new honest client still gets in.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { MemoryBackend } from './helpers/memory-backend.js';

/** The first bytes of a client handshake (flags, then an option header), one byte every `everyMs`. */
const HANDSHAKE_BYTES = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('IHAVEOPT'), Buffer.from([0, 0, 0, 7, 0, 0, 1, 0]), Buffer.alloc(256, 0x41)]);

const sockets: Socket[] = [];
const timers: NodeJS.Timeout[] = [];

function trickle(port: number, everyMs: number): void {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < HANDSHAKE_BYTES.length && !socket.destroyed) socket.write(HANDSHAKE_BYTES.subarray(sent, ++sent));
  }, everyMs);
  sockets.push(socket);
  timers.push(timer);
}

afterEach(() => {
  timers.forEach((t) => clearInterval(t));
  sockets.forEach((s) => s.destroy());
  timers.length = 0;
  sockets.length = 0;
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('a slowloris against a full NBD server', () => {
  it('never drops a client resting between requests; a new honest client still gets in', async () => {
    const server = new NbdServer({ exports: [new MemoryBackend({ name: 'a', sizeBytes: 65536 })], maxConnections: 4 });
    const { port } = await server.listen();
    try {
      const resting = await NbdClient.connect({ port });
      expect((await resting.read(0, 512)).length).toBe(512);
      // The resting client now waits for its next request; the slowloris bytes keep its own connections fresh.
      for (let i = 0; i < 12; i++) {
        trickle(port, 10);
        await pause(40);
      }
      await pause(100);
      expect((await resting.read(0, 512)).length, 'the resting client was not dropped').toBe(512);
      const newcomer = await NbdClient.connect({ port, timeoutMs: 2000 });
      expect((await newcomer.read(0, 512)).length).toBe(512);
      expect((await resting.read(0, 512)).length).toBe(512);
      await newcomer.disconnect();
      await resting.disconnect();
    } finally {
      timers.forEach((t) => clearInterval(t));
      sockets.forEach((s) => s.destroy());
      await server.close();
    }
  });
});
