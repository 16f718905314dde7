/**
 * Layer: integration (real sockets). Reads of an accepted connection into memory the caller gives
 * (src/base/socket-reads-into.ts), on the Node that runs the tests. The way it takes relies on
 * Node's own `handle` option and `_handle` field: should a Node release change them, the first
 * test fails here (the server would still serve, reading into fresh memory as before).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readsInto, type ReadTarget } from '../../src/base/socket-reads-into.js';
import { BufferPool } from '../../src/export/buffer-pool.js';
import { FrameReader } from '../../src/export/frame-reader.js';

/** A target over one reused buffer that keeps a copy of every read. */
class CopyingTarget implements ReadTarget {
  readonly memory = Buffer.alloc(256 * 1024);
  readonly copies: Buffer[] = [];
  rooms = 0;
  room(): Buffer {
    this.rooms++;
    return this.memory;
  }
  landed(length: number, into: Uint8Array): void {
    expect(into.buffer).toBe(this.memory.buffer);
    this.copies.push(Buffer.from(this.memory.subarray(0, length)));
  }
}

let server: Server | undefined;
afterEach(async () => {
  const open = server;
  server = undefined;
  if (open !== undefined) await new Promise<void>((resolve) => open.close(() => resolve()));
});

/** A server on loopback with `options`; resolves with it and its port. */
async function listen(options: { pauseOnConnect: boolean }, onSocket: (socket: Socket) => void): Promise<number> {
  const listening = createServer({ allowHalfOpen: true, ...options }, onSocket);
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  const address = listening.address();
  if (address === null || typeof address !== 'object') throw new Error('a TCP server has an address');
  return address.port;
}

/** Sends `bytes` and shuts the sending side; resolves with everything the server sent back. */
async function exchange(port: number, bytes: Buffer): Promise<Buffer> {
  const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const replies: Buffer[] = [];
  client.on('data', (chunk: Buffer) => replies.push(chunk));
  const ended = new Promise<void>((resolve) => client.once('end', resolve));
  client.end(bytes);
  await ended;
  client.destroy();
  return Buffer.concat(replies);
}

describe('readsInto', () => {
  it('reads an accepted connection into the given memory on this Node, half-open, and lets the server close', async () => {
    const target = new CopyingTarget();
    const seen: { data: number; adopted: boolean } = { data: 0, adopted: false };
    const port = await listen({ pauseOnConnect: true }, (accepted) => {
      const socket = readsInto(accepted, target, { allowHalfOpen: true });
      seen.adopted = socket !== undefined;
      if (socket === undefined) return void accepted.destroy();
      socket.on('data', (chunk: Buffer) => (seen.data += chunk.length));
      // Half-open: the reply goes out after the client has shut its side.
      socket.once('end', () => socket.end(Buffer.from(`got ${Buffer.concat(target.copies).length}`)));
    });
    const sent = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 7) % 253;
    const reply = await exchange(port, sent);
    expect(seen.adopted).toBe(true);
    expect(reply.toString()).toBe(`got ${sent.length}`);
    expect(Buffer.concat(target.copies).equals(sent)).toBe(true);
    expect(seen.data).toBe(0);
    // One room per read and one to start with: the same memory every time.
    expect(target.rooms).toBe(target.copies.length + 1);
    // The accepted socket left the server's count once the adopted one closed: close() completes.
    const closing = server;
    server = undefined;
    await new Promise<void>((resolve) => closing?.close(() => resolve()));
  });

  it('declines a socket that has started reading; it reads as usual', async () => {
    const target = new CopyingTarget();
    const port = await listen({ pauseOnConnect: false }, (accepted) => {
      expect(readsInto(accepted, target, { allowHalfOpen: true })).toBeUndefined();
      const chunks: Buffer[] = [];
      accepted.on('data', (chunk: Buffer) => chunks.push(chunk));
      accepted.once('end', () => accepted.end(Buffer.from(`got ${Buffer.concat(chunks).length}`)));
    });
    expect((await exchange(port, Buffer.alloc(1000, 1))).toString()).toBe('got 1000');
    expect(target.rooms).toBe(0);
  });

  it('gives a frame reader over slabs where the server paused the socket, and a plain one where it did not', async () => {
    for (const pauseOnConnect of [true, false]) {
      const seen: { slabs: boolean | undefined; frames: number[] } = { slabs: undefined, frames: [] };
      const port = await listen({ pauseOnConnect }, (accepted) => {
        const { reader, socket } = FrameReader.adopting(accepted, {
          readAheadBytes: 1 << 20,
          maxFrameBytes: 1 << 20,
          pool: new BufferPool(4 << 20),
          allowHalfOpen: true,
        });
        seen.slabs = reader.readsIntoSlabs;
        void (async () => {
          // Bounded: 64 frames, then the peer ends.
          for (let i = 0; i < 64; i++) {
            const frame = await reader.readExact(50_000);
            seen.frames.push(frame.every((byte) => byte === i) ? i : -1);
          }
          socket.end(Buffer.from('done'));
        })();
      });
      const sent = Buffer.concat(Array.from({ length: 64 }, (_, i) => Buffer.alloc(50_000, i)));
      expect((await exchange(port, sent)).toString()).toBe('done');
      expect(seen.slabs).toBe(pauseOnConnect);
      expect(seen.frames).toEqual(Array.from({ length: 64 }, (_, i) => i));
      const closing = server;
      server = undefined;
      await new Promise<void>((resolve) => closing?.close(() => resolve()));
    }
  });
});
