/**
 * Scenario layer: malformed handshakes and requests, read-only exports, and injected backend
 * faults. Each scenario checks the NBD answer (an errno, an option error, or a clean disconnect of
 * that client only), and that a well-behaved client on the same server still gets correct data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import {
  MAX_REQUEST_PAYLOAD_BYTES,
  READ_STEP_BYTES,
  NbdCommand,
  NbdErrno,
  NbdOption,
  NbdReply,
  NBD_CMD_FLAG_FUA,
  NBD_FLAG_READ_ONLY,
} from '../../src/export/nbd-constants.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import type { NbdServerEvent } from '../../src/export/nbd-server-events.js';
import { NbdProtocolError, UsageError } from '../../src/errors/snaptape-error.js';
import { MemoryBackend } from './helpers/memory-backend.js';
import { optionFrame, RawPeer, readReplyErrno, requestFrame } from './helpers/raw-peer.js';

const SIZE = 1024 * 1024;

/** Polls `predicate` for up to `timeoutMs`: server events arrive after the peer sees the close. */
async function eventually(predicate: () => boolean, timeoutMs = 2000): Promise<boolean> {
  for (let waited = 0; waited < timeoutMs && !predicate(); waited += 10) await new Promise((r) => setTimeout(r, 10));
  return predicate();
}
const pattern = (data: Buffer): void => {
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
};

describe('NBD server against malformed input', () => {
  let server: NbdServer;
  let port: number;
  let main: MemoryBackend;
  let steady: NbdClient;
  const events: NbdServerEvent[] = [];

  beforeAll(async () => {
    main = new MemoryBackend({ name: 'main', sizeBytes: SIZE, canTrim: true, fill: pattern });
    const readOnly = new MemoryBackend({ name: 'ro', sizeBytes: SIZE, readOnly: true, fill: pattern });
    const faulty = new MemoryBackend({ name: 'faulty', sizeBytes: SIZE, failWrite: { nth: 1, kind: 'io' } });
    const full = new MemoryBackend({ name: 'full', sizeBytes: SIZE, failWrite: { nth: 1, kind: 'no-space' } });
    const buggy = new MemoryBackend({ name: 'buggy', sizeBytes: SIZE, failWrite: { nth: 1, kind: 'bug' } });
    server = new NbdServer({ exports: [main, readOnly, faulty, full, buggy], handshakeTimeoutMs: 300 });
    server.onEvent((event) => events.push(event));
    port = (await server.listen()).port;
    steady = await NbdClient.connect({ port, exportName: 'main' });
  });

  afterAll(async () => {
    await steady.disconnect();
    await server.close();
  });

  /** The steady client, connected before every scenario, still reads the right bytes. */
  async function expectSteadyClientServed(): Promise<void> {
    const data = await steady.read(4096, 4096);
    expect(data.equals(main.data.subarray(4096, 8192))).toBe(true);
  }

  it('disconnects a client that sends unknown client flags', async () => {
    const peer = await RawPeer.connect(port);
    await peer.read(18);
    peer.send(Buffer.from('ffffffff', 'hex'));
    expect(await peer.drainsToClose()).toBe(true);
    expect(await eventually(() => events.some((e) => e.kind === 'protocol-error' && /client flags/.test(e.error.message)))).toBe(true);
    await expectSteadyClientServed();
  });

  it('disconnects on a bad option magic, and on an option longer than the limit', async () => {
    for (const frame of [
      Buffer.from('GARBAGE!0000000700000000', 'latin1'),
      Buffer.concat([optionFrame(NbdOption.GO).subarray(0, 12), Buffer.from('7fffffff', 'hex')]),
    ]) {
      const peer = await RawPeer.connect(port);
      await peer.read(18);
      peer.send(Buffer.from('00000003', 'hex'));
      peer.send(frame);
      expect(await peer.drainsToClose()).toBe(true);
    }
    await expectSteadyClientServed();
  });

  it('answers unknown options with ERR_UNSUP and keeps negotiating', async () => {
    const peer = await RawPeer.connect(port);
    await peer.read(18);
    peer.send(Buffer.from('00000003', 'hex'));
    for (const option of [NbdOption.STARTTLS, 0x1234]) {
      peer.send(optionFrame(option));
      const reply = await peer.read(20);
      expect(reply.readUInt32BE(8)).toBe(option);
      expect(reply.readUInt32BE(12)).toBe(NbdReply.ERR_UNSUP);
    }
    peer.send(optionFrame(NbdOption.EXPORT_NAME, Buffer.from('main')));
    expect((await peer.read(10)).readBigUInt64BE(0)).toBe(BigInt(SIZE));
    peer.destroy();
  });

  it('lists exports, rejects an unknown name in INFO, and closes on an unknown EXPORT_NAME', async () => {
    const peer = await RawPeer.connect(port);
    await peer.read(18);
    peer.send(Buffer.from('00000003', 'hex'));
    peer.send(optionFrame(NbdOption.LIST));
    const names: string[] = [];
    for (let i = 0; i < 10; i++) {
      const header = await peer.read(20);
      const data = await peer.read(header.readUInt32BE(16));
      if (header.readUInt32BE(12) === NbdReply.ACK) break;
      names.push(data.subarray(4).toString('utf8'));
    }
    expect(names).toEqual(['main', 'ro', 'faulty', 'full', 'buggy']);
    const info = Buffer.alloc(4 + 4 + 2);
    info.writeUInt32BE(4, 0);
    info.write('nope', 4);
    peer.send(optionFrame(NbdOption.INFO, info));
    expect((await peer.read(20)).readUInt32BE(12)).toBe(NbdReply.ERR_UNKNOWN);
    peer.send(optionFrame(NbdOption.INFO, Buffer.from('0000', 'hex')));
    expect((await peer.read(20)).readUInt32BE(12)).toBe(NbdReply.ERR_INVALID);
    peer.send(optionFrame(NbdOption.EXPORT_NAME, Buffer.from('nope')));
    expect(await peer.drainsToClose()).toBe(true);
  });

  it('acknowledges ABORT and closes', async () => {
    const peer = await RawPeer.connect(port);
    await peer.read(18);
    peer.send(Buffer.from('00000003', 'hex'));
    peer.send(optionFrame(NbdOption.ABORT));
    expect((await peer.read(20)).readUInt32BE(12)).toBe(NbdReply.ACK);
    expect(await peer.closedWithin(2000)).toBe(true);
  });

  it('drops a handshake that stalls, or that sends a truncated frame and goes quiet', async () => {
    const silent = await RawPeer.connect(port);
    const truncated = await RawPeer.connect(port);
    truncated.send(Buffer.from('0000', 'hex'));
    expect(await silent.closedWithin(3000)).toBe(true);
    expect(await truncated.closedWithin(3000)).toBe(true);
    expect(await eventually(() => events.some((e) => e.kind === 'connection-closed' && e.reason === 'handshake timed out'))).toBe(true);
    await expectSteadyClientServed();
  });

  it('answers out-of-range, unknown and unsupported requests with errnos and keeps the connection', async () => {
    const peer = await RawPeer.connect(port);
    await peer.enterTransmission('main');
    const cases: Array<[Buffer, number]> = [
      [requestFrame({ type: NbdCommand.READ, offsetBytes: SIZE - 10, length: 20 }), NbdErrno.EINVAL],
      [requestFrame({ type: NbdCommand.READ, offsetBytes: Number.MAX_SAFE_INTEGER, length: 1 }), NbdErrno.EINVAL],
      [requestFrame({ type: NbdCommand.READ, offsetBytes: 0, length: MAX_REQUEST_PAYLOAD_BYTES + 1 }), NbdErrno.EINVAL],
      [requestFrame({ type: NbdCommand.WRITE_ZEROES, offsetBytes: SIZE, length: 1 }), NbdErrno.ENOSPC],
      [requestFrame({ type: NbdCommand.TRIM, offsetBytes: SIZE, length: 512 }), NbdErrno.EINVAL],
      [requestFrame({ type: 99 }), NbdErrno.EINVAL],
      [requestFrame({ type: NbdCommand.CACHE, length: 512 }), NbdErrno.EINVAL],
      [requestFrame({ type: NbdCommand.READ, flags: 0x80, length: 512 }), NbdErrno.EINVAL],
      [Buffer.concat([requestFrame({ type: NbdCommand.WRITE, offsetBytes: SIZE - 4, length: 8 }), Buffer.alloc(8)]), NbdErrno.ENOSPC],
    ];
    for (const [frame, errno] of cases) {
      peer.send(frame);
      expect(await readReplyErrno(peer)).toBe(errno);
    }
    peer.send(requestFrame({ type: NbdCommand.READ, offsetBytes: 100, length: 16 }));
    expect(await readReplyErrno(peer)).toBe(NbdErrno.OK);
    expect((await peer.read(16)).equals(main.data.subarray(100, 116))).toBe(true);
    peer.send(requestFrame({ type: NbdCommand.DISC }));
    expect(await peer.closedWithin(2000)).toBe(true);
  });

  it('disconnects on a bad request magic, an oversized WRITE, and a truncated frame', async () => {
    const badMagic = await RawPeer.connect(port);
    await badMagic.enterTransmission('main');
    badMagic.send(requestFrame({ type: NbdCommand.READ, length: 512, magic: 0xdeadbeef }));
    expect(await badMagic.drainsToClose()).toBe(true);

    const oversized = await RawPeer.connect(port);
    await oversized.enterTransmission('main');
    oversized.send(requestFrame({ type: NbdCommand.WRITE, length: MAX_REQUEST_PAYLOAD_BYTES + 1 }));
    expect(await readReplyErrno(oversized)).toBe(NbdErrno.EINVAL);
    expect(await oversized.drainsToClose()).toBe(true);

    const truncated = await RawPeer.connect(port);
    await truncated.enterTransmission('main');
    const before = Buffer.from(main.data.subarray(0, 4096));
    truncated.send(requestFrame({ type: NbdCommand.WRITE, offsetBytes: 0, length: 4096 }).subarray(0, 20));
    truncated.socket.end();
    expect(await truncated.closedWithin(3000)).toBe(true);
    expect(main.data.subarray(0, 4096).equals(before)).toBe(true);
    await expectSteadyClientServed();
  });

  it('parses a handshake and requests that arrive one byte per packet', async () => {
    const peer = await RawPeer.connect(port);
    await peer.read(18);
    const bytes = Buffer.concat([
      Buffer.from('00000003', 'hex'),
      optionFrame(NbdOption.EXPORT_NAME, Buffer.from('main')),
      requestFrame({ type: NbdCommand.READ, offsetBytes: 64, length: 32 }),
    ]);
    for (const byte of bytes) {
      peer.send(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await peer.read(10);
    expect(await readReplyErrno(peer)).toBe(NbdErrno.OK);
    expect((await peer.read(32)).equals(main.data.subarray(64, 96))).toBe(true);
    peer.destroy();
  });

  it('refuses writes to a read-only export with EPERM and still serves reads', async () => {
    const client = await NbdClient.connect({ port, exportName: 'ro' });
    expect(client.info.readOnly).toBe(true);
    expect(client.info.transmissionFlags & NBD_FLAG_READ_ONLY).toBe(NBD_FLAG_READ_ONLY);
    for (const attempt of [
      () => client.write(0, Buffer.alloc(512, 1)),
      () => client.writeZeroes(0, 512),
      () => client.rawRequest({ type: NbdCommand.TRIM, offsetBytes: 0, length: 512 }),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ details: { errno: NbdErrno.EPERM, errnoName: 'EPERM' } });
    }
    expect((await client.read(0, 4096)).equals(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff)))).toBe(true);
    await client.disconnect();
  });

  it('maps backend errors to errnos and survives them', async () => {
    const faulty = await NbdClient.connect({ port, exportName: 'faulty' });
    await expect(faulty.write(0, Buffer.alloc(512, 1))).rejects.toMatchObject({ details: { errnoName: 'EIO' } });
    await faulty.write(0, Buffer.alloc(512, 2));
    expect((await faulty.read(0, 512)).every((b) => b === 2)).toBe(true);
    await faulty.disconnect();
    const full = await NbdClient.connect({ port, exportName: 'full' });
    await expect(full.write(0, Buffer.alloc(512, 1))).rejects.toMatchObject({ details: { errnoName: 'ENOSPC' } });
    await full.disconnect();
    const buggy = await NbdClient.connect({ port, exportName: 'buggy' });
    await expect(buggy.write(0, Buffer.alloc(512, 1))).rejects.toMatchObject({ details: { errnoName: 'EIO' } });
    await expect(buggy.read(0, 512)).rejects.toBeInstanceOf(NbdProtocolError);
    expect(events.some((e) => e.kind === 'backend-error' && e.internal && e.exportName === 'buggy')).toBe(true);
    await expectSteadyClientServed();
  });

  it('trims, writes zeroes and honours FUA on an export that can', async () => {
    const client = await NbdClient.connect({ port, exportName: 'main' });
    expect(client.info).toMatchObject({ canTrim: true, canWriteZeroes: true, canFua: true, canFlush: true, canMultiConn: true });
    const flushesBefore = main.flushCount;
    await client.write(SIZE - 8192, Buffer.alloc(8192, 0xee), { fua: true });
    expect(main.flushCount).toBe(flushesBefore + 1);
    await client.trim(SIZE - 8192, 4096);
    await client.writeZeroes(SIZE - 4096, 4096, { noHole: true });
    await client.flush();
    expect((await client.read(SIZE - 8192, 8192)).every((b) => b === 0)).toBe(true);
    await client.rawRequest({ type: NbdCommand.FLUSH, flags: NBD_CMD_FLAG_FUA, offsetBytes: 0, length: 0 });
    await client.disconnect();
  });

  it('maps the default export "" to the first export', async () => {
    const client = await NbdClient.connect({ port });
    expect(client.info.sizeBytes).toBe(SIZE);
    expect((await client.read(0, 64)).equals(main.data.subarray(0, 64))).toBe(true);
    await client.disconnect();
  });

  it('the client refuses ranges outside the export locally', async () => {
    await expect(steady.read(SIZE, 1)).rejects.toThrow(/Cannot read 1 bytes at offset 1048576/);
  });
});

describe('NBD server options and lifecycle', () => {
  it('binds to loopback unless remote access is allowed, and refuses duplicate names', () => {
    const backend = new MemoryBackend({ name: 'a', sizeBytes: 4096 });
    expect(() => new NbdServer({ exports: [backend], host: '0.0.0.0' })).toThrow(UsageError);
    expect(() => new NbdServer({ exports: [backend, backend] })).toThrow(/used twice/);
    expect(() => new NbdServer({ exports: [] })).toThrow(UsageError);
  });

  it('when full, a newcomer takes the place of the longest idle connection; close() drains and closes the rest', async () => {
    const backend = new MemoryBackend({ name: 'a', sizeBytes: 65536 });
    const server = new NbdServer({ exports: [backend], maxConnections: 2 });
    const { port } = await server.listen();
    const first = await NbdClient.connect({ port });
    const second = await NbdClient.connect({ port });
    await new Promise((r) => setTimeout(r, 20));
    expect((await second.read(0, 1)).length).toBe(1);
    const third = await NbdClient.connect({ port, timeoutMs: 2000 });
    await expect(first.read(0, 1)).rejects.toBeInstanceOf(NbdProtocolError);
    expect((await second.read(0, 65536)).length).toBe(65536);
    expect((await third.read(0, 65536)).length).toBe(65536);
    expect(server.connectionCount).toBe(2);
    await server.close();
    expect(server.connectionCount).toBe(0);
    await expect(second.read(0, 1)).rejects.toBeInstanceOf(NbdProtocolError);
    await expect(third.read(0, 1)).rejects.toBeInstanceOf(NbdProtocolError);
    await first.disconnect();
    await expect(NbdClient.connect({ port, timeoutMs: 2000 })).rejects.toBeInstanceOf(NbdProtocolError);
  });

  it('refuses a newcomer when every connection is working (here: a large READ in steps)', async () => {
    /** Each read step costs 10 ms of CPU, so a 24-step READ keeps its connection working for ~240 ms. */
    class SlowBackend extends MemoryBackend {
      override read(offsetBytes: number, length: number): Buffer {
        const until = performance.now() + 10;
        while (performance.now() < until) {
          /* the cost of a real read */
        }
        return super.read(offsetBytes, length);
      }
    }
    const size = 24 * READ_STEP_BYTES;
    const server = new NbdServer({ exports: [new SlowBackend({ name: 'a', sizeBytes: size })], maxConnections: 1 });
    const { port } = await server.listen();
    const busy = await NbdClient.connect({ port, exportName: 'a' });
    try {
      const reading = busy.read(0, size);
      await new Promise((r) => setTimeout(r, 50));
      await expect(NbdClient.connect({ port, timeoutMs: 2000 })).rejects.toBeInstanceOf(NbdProtocolError);
      expect((await reading).length).toBe(size);
    } finally {
      busy.destroy();
      await server.close();
    }
  });
});
