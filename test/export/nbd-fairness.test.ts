/**
 * The NBD server's bounds on one client, in process: the requests of a client that reset are
 * dropped, not executed; a half-close still gets every reply; the idle timeout closes a client that
 * sends no request or reads no reply, and spares one that keeps working.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdCommand, READ_STEP_BYTES } from '../../src/export/nbd-constants.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { MemoryBackend } from './helpers/memory-backend.js';
import { RawPeer, readReplyErrno, requestFrame } from './helpers/raw-peer.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let server: NbdServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(backend: MemoryBackend, idleTimeoutMs?: number): Promise<number> {
  server = new NbdServer({ exports: [backend], idleTimeoutMs });
  return (await server.listen()).port;
}

function frames(count: number, frame: Buffer): Buffer {
  return Buffer.concat(Array.from({ length: count }, () => frame));
}

describe("NBD server: a client's requests are bounded by its connection", () => {
  it('drops the buffered requests of a client that resets instead of executing them', async () => {
    const backend = new MemoryBackend({ name: 'a', sizeBytes: 1 << 20 });
    const port = await serve(backend);
    const peer = await RawPeer.connect(port);
    await peer.enterTransmission('a');
    const sent = 20_000;
    peer.send(frames(sent, requestFrame({ type: NbdCommand.READ, length: 64 * 1024 })));
    await sleep(50);
    peer.socket.resetAndDestroy();
    await sleep(500);
    const executed = backend.callCount;
    await sleep(200);
    // A few replies fit the socket buffers before the reset; the rest is never run.
    expect(executed).toBeLessThan(sent / 10);
    expect(backend.callCount).toBe(executed);
  });

  it('a client that half-closes after pipelining still gets every reply', async () => {
    const backend = new MemoryBackend({ name: 'a', sizeBytes: 1 << 20 });
    const port = await serve(backend);
    const peer = await RawPeer.connect(port);
    await peer.enterTransmission('a');
    peer.send(frames(500, requestFrame({ type: NbdCommand.READ, length: 4096 })));
    peer.socket.end();
    for (let i = 0; i < 500; i++) {
      expect(await readReplyErrno(peer)).toBe(0);
      await peer.read(4096);
    }
    expect(backend.callCount).toBe(500);
  });

  it('the idle timeout closes a client that sends no request, and spares one that does', async () => {
    const port = await serve(new MemoryBackend({ name: 'a', sizeBytes: 1 << 20 }), 300);
    const idle = await RawPeer.connect(port);
    const busy = await RawPeer.connect(port);
    await idle.enterTransmission('a');
    await busy.enterTransmission('a');
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      busy.send(requestFrame({ type: NbdCommand.READ, length: 16, handle: i }));
      expect(await readReplyErrno(busy)).toBe(0);
      await busy.read(16);
    }
    expect(await idle.closedWithin(100)).toBe(true);
    expect(await busy.closedWithin(0)).toBe(false);
    busy.destroy();
  });

  it('the idle timeout closes a client that reads no reply', async () => {
    const size = 8 << 20;
    const port = await serve(new MemoryBackend({ name: 'a', sizeBytes: size }), 300);
    const reasons: string[] = [];
    server?.onEvent((event) => {
      if (event.kind === 'connection-closed') reasons.push(event.reason);
    });
    const peer = await RawPeer.connect(port);
    await peer.enterTransmission('a');
    peer.socket.pause();
    peer.send(requestFrame({ type: NbdCommand.READ, length: size }));
    // The peer cannot see the close behind the reply it does not read; the server reports it.
    for (let i = 0; i < 200 && reasons.length === 0; i++) await sleep(10);
    expect(reasons).toEqual(['idle: client read no reply for 0.3 s']);
    peer.destroy();
  });

  it("a large READ runs in steps, and another client's request is served between them", async () => {
    /** Each read takes 5 ms of CPU, as a real volume's would: the log shows who went when. */
    class SlowBackend extends MemoryBackend {
      readonly log: string[] = [];
      override read(offsetBytes: number, length: number): Buffer {
        const until = performance.now() + 5;
        while (performance.now() < until) {
          /* the cost of a real read */
        }
        this.log.push(length === 16 ? 'small' : 'large-step');
        return super.read(offsetBytes, length);
      }
    }
    const backend = new SlowBackend({ name: 'a', sizeBytes: 8 * READ_STEP_BYTES });
    const port = await serve(backend);
    const large = await NbdClient.connect({ port, exportName: 'a' });
    const small = await NbdClient.connect({ port, exportName: 'a' });
    const largeRead = large.read(0, 8 * READ_STEP_BYTES);
    await sleep(10);
    await small.read(0, 16);
    expect((await largeRead).length).toBe(8 * READ_STEP_BYTES);
    expect(backend.log.filter((entry) => entry === 'large-step')).toHaveLength(8);
    expect(backend.log.indexOf('small')).toBeLessThan(backend.log.lastIndexOf('large-step'));
    large.destroy();
    small.destroy();
  });
});
