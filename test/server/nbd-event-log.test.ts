/**
 * Layer: unit over a real NBD server and client. What serve logs of the NBD server's events: a
 * request the backend failed at warn (EIO, ENOSPC), a backend bug at error, a refused request at
 * warn with its reason, each naming the export, the command and the errno by name; an export
 * refused to a client (here: no such name) at warn. A client that goes on sending refused requests
 * gets REQUEST_LINES_PER_CONNECTION lines, then one count at its close: the log stays bounded.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventLogger, LogLevel } from '../../src/base/log.js';
import { NbdClient } from '../../src/export/nbd-client.js';
import { MAX_OPTIONS_PER_HANDSHAKE, NbdOption } from '../../src/export/nbd-constants.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { logNbdEvents, NBD_LOG_WINDOW_MS, NBD_WARN_LINES_PER_WINDOW, REQUEST_LINES_PER_CONNECTION } from '../../src/server/nbd-event-log.js';
import { MemoryBackend } from '../export/helpers/memory-backend.js';
import { optionFrame, RawPeer } from '../export/helpers/raw-peer.js';

const SIZE = 64 * 1024;

/** Sends `bytes` as the first thing on a fresh NBD connection and waits for the server to drop it. */
function sendGarbage(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes));
    socket.on('data', () => undefined);
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

interface Logged {
  readonly event: string;
  readonly level: LogLevel;
  readonly fields: Readonly<Record<string, unknown>>;
}

describe('logNbdEvents', () => {
  let server: NbdServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it('logs failed, refused and buggy requests with their export, command and errno', async () => {
    const exports = [
      new MemoryBackend({ name: 'faulty', sizeBytes: SIZE, failWrite: { nth: 1, kind: 'io' } }),
      new MemoryBackend({ name: 'full', sizeBytes: SIZE, failWrite: { nth: 1, kind: 'no-space' } }),
      new MemoryBackend({ name: 'buggy', sizeBytes: SIZE, failWrite: { nth: 1, kind: 'bug' } }),
      new MemoryBackend({ name: 'ro', sizeBytes: SIZE, readOnly: true }),
    ];
    server = new NbdServer({ exports });
    const logged: Logged[] = [];
    const log: EventLogger = (event, fields, level = 'info') => logged.push({ event, level, fields });
    logNbdEvents(server, log);
    const { port } = await server.listen();

    for (const name of ['faulty', 'full', 'buggy', 'ro']) {
      const client = await NbdClient.connect({ port, exportName: name });
      await expect(client.write(0, Buffer.alloc(512, 1))).rejects.toThrow();
      if (name !== 'buggy') await client.disconnect();
      else client.destroy();
    }
    await expect(NbdClient.connect({ port, exportName: 'nope' })).rejects.toThrow();
    // A client that goes on sending refused requests: its lines stop at the bound, then one count.
    const persistent = await NbdClient.connect({ port, exportName: 'ro' });
    for (let i = 0; i < REQUEST_LINES_PER_CONNECTION + 5; i++) await expect(persistent.write(0, Buffer.alloc(512, 2))).rejects.toThrow(/EPERM/);
    await persistent.disconnect();
    await server.close();
    server = undefined;

    const failures = logged.filter((l) => l.event === 'nbd.backend-error');
    expect(failures.map((l) => [l.fields['export'], l.fields['command'], l.fields['errno'], l.level])).toEqual([
      ['faulty', 'WRITE', 'EIO', 'warn'],
      ['full', 'WRITE', 'ENOSPC', 'warn'],
      ['buggy', 'WRITE', 'EIO', 'error'],
    ]);
    expect(failures.every((l) => typeof l.fields['reason'] === 'string' && (l.fields['reason'] as string).length > 0)).toBe(true);
    const refused = logged.filter((l) => l.event === 'nbd.request-refused');
    expect(refused).toHaveLength(1 + REQUEST_LINES_PER_CONNECTION);
    expect(refused[0]?.fields).toEqual(
      expect.objectContaining({ export: 'ro', command: 'WRITE', errno: 'EPERM', reason: 'the export is read-only to this connection' }),
    );
    expect(logged.filter((l) => l.event === 'nbd.requests-unlogged').map((l) => [l.fields['requests'], l.level])).toEqual([[5, 'warn']]);
    expect(logged.filter((l) => l.event === 'nbd.export-refused')).toEqual([
      { event: 'nbd.export-refused', level: 'warn', fields: expect.objectContaining({ export: 'nope', reason: 'the server has no export of that name' }) },
    ]);
    const connections = logged.filter((l) => l.event === 'nbd.connection');
    expect(connections.filter((l) => l.fields['state'] === 'opened')).toHaveLength(6);
    expect(connections.every((l) => l.level === 'debug')).toBe(true);
  });

  it('logs the exports one handshake is refused up to the same bound, then one count', async () => {
    server = new NbdServer({ exports: [new MemoryBackend({ name: 'disk', sizeBytes: SIZE })] });
    const logged: Logged[] = [];
    const log: EventLogger = (event, fields, level = 'info') => logged.push({ event, level, fields });
    logNbdEvents(server, log);
    const { port } = await server.listen();
    // One connection asks for every option the handshake allows, each an export the server does not have.
    const peer = await RawPeer.connect(port);
    await peer.read(18);
    peer.send(Buffer.from('00000003', 'hex'));
    const name = Buffer.from('x'.repeat(200), 'utf8');
    const info = Buffer.alloc(4 + name.length + 2);
    info.writeUInt32BE(name.length, 0);
    name.copy(info, 4);
    for (let i = 0; i < MAX_OPTIONS_PER_HANDSHAKE; i++) peer.send(optionFrame(NbdOption.INFO, info));
    expect(await peer.closedWithin(5000)).toBe(true);
    await server.close();
    server = undefined;
    const refused = logged.filter((l) => l.event === 'nbd.export-refused');
    expect(refused).toHaveLength(REQUEST_LINES_PER_CONNECTION);
    expect(logged.filter((l) => l.event === 'nbd.requests-unlogged').map((l) => l.fields['requests'])).toEqual([
      MAX_OPTIONS_PER_HANDSHAKE - REQUEST_LINES_PER_CONNECTION,
    ]);
  });

  it('logs at most NBD_WARN_LINES_PER_WINDOW lines a window however many connections a client opens, then one count', async () => {
    server = new NbdServer({ exports: [new MemoryBackend({ name: 'disk', sizeBytes: SIZE })] });
    const logged: Logged[] = [];
    const log: EventLogger = (event, fields, level = 'info') => logged.push({ event, level, fields });
    let now = 1_000_000;
    const end = logNbdEvents(server, log, { now: () => now });
    const { port } = await server.listen();
    // Each connection breaks the protocol at once: one protocol error each.
    const connections = NBD_WARN_LINES_PER_WINDOW * 2;
    for (let i = 0; i < connections; i += 20) await Promise.all(Array.from({ length: 20 }, () => sendGarbage(port, Buffer.alloc(64, 0xee))));
    const errors = (): Logged[] => logged.filter((l) => l.event === 'nbd.protocol-error');
    for (let i = 0; i < 200 && errors().length < NBD_WARN_LINES_PER_WINDOW; i++) await new Promise((r) => setTimeout(r, 10));
    expect(logged.filter((l) => l.level !== 'debug')).toHaveLength(NBD_WARN_LINES_PER_WINDOW);
    // The next window: its first line is the count of those the last one did not log.
    now += NBD_LOG_WINDOW_MS;
    await sendGarbage(port, Buffer.alloc(64, 0xee));
    for (let i = 0; i < 200 && errors().length < NBD_WARN_LINES_PER_WINDOW + 1; i++) await new Promise((r) => setTimeout(r, 10));
    const late = logged.filter((l) => l.level !== 'debug').slice(NBD_WARN_LINES_PER_WINDOW);
    expect(late.map((l) => [l.event, l.fields['lines']])).toEqual([
      ['nbd.lines-unlogged', connections - NBD_WARN_LINES_PER_WINDOW],
      ['nbd.protocol-error', undefined],
    ]);
    // The rest of this window's budget, and 3 more: counted, and told at the end of the log.
    const more = NBD_WARN_LINES_PER_WINDOW - 2 + 3;
    for (let i = 0; i < more; i++) await sendGarbage(port, Buffer.alloc(64, 0xee));
    for (let i = 0; i < 200 && errors().length < NBD_WARN_LINES_PER_WINDOW * 2 - 1; i++) await new Promise((r) => setTimeout(r, 10));
    await server.close();
    server = undefined;
    end();
    const last = logged.filter((l) => l.level !== 'debug').slice(NBD_WARN_LINES_PER_WINDOW * 2);
    expect(last.map((l) => [l.event, l.fields['lines']])).toEqual([['nbd.lines-unlogged', 3]]);
  });
});
