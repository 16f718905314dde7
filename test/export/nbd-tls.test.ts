/**
 * The project's own NBD client against the NBD server over the two protected transports: a unix
 * socket (mode 0600) and TCP with forced TLS-PSK (NBD_OPT_STARTTLS). Also the negotiation table:
 * before STARTTLS only STARTTLS and ABORT are answered.
 */
import { lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdClient } from '../../src/export/nbd-client.js';
import { NbdOption, NbdReply } from '../../src/export/nbd-constants.js';
import { handleOption, newNegotiationState } from '../../src/export/nbd-negotiation.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { readPskFile } from '../../src/export/nbd-tls.js';
import { UsageError } from '../../src/errors/snaptape-error.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { MemoryBackend } from './helpers/memory-backend.js';

const KEY = Buffer.from('2c129cff760bf04ca78a7218e6d20b959a6e6ead8892072e1e952dc563a89241', 'hex');
const SIZE = 1024 * 1024;

describe('NBD over a unix socket and over TLS-PSK', () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = makeTempDir('snaptape-nbd-tls-');
  });
  afterAll(() => dir.cleanup());

  it('serves the client over a 0600 unix socket, and removes the socket at close', async () => {
    const server = new NbdServer({ exports: [new MemoryBackend({ name: 'm', sizeBytes: SIZE })] });
    const path = join(dir.path, 'nbd.sock');
    await server.listenUnix(path);
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    const client = await NbdClient.connect({ socketPath: path, exportName: 'm' });
    await client.write(4096, Buffer.alloc(512, 0x42));
    expect((await client.read(4096, 512)).equals(Buffer.alloc(512, 0x42))).toBe(true);
    await client.disconnect();
    await server.close();
    expect(lstatSync(path, { throwIfNoEntry: false })).toBeUndefined();
  });

  describe('forced TLS', () => {
    let server: NbdServer;
    let port: number;
    beforeAll(async () => {
      server = new NbdServer({ exports: [new MemoryBackend({ name: 'm', sizeBytes: SIZE })], tlsKeys: new Map([['alice', KEY]]) });
      ({ port } = await server.listen());
    });
    afterAll(() => server.close());

    it('the right key writes and reads back', async () => {
      const client = await NbdClient.connect({ port, exportName: 'm', tls: { username: 'alice', key: KEY } });
      const data = Buffer.alloc(64 * 1024, 0x5a);
      await client.write(0, data);
      expect((await client.read(0, data.length)).equals(data)).toBe(true);
      await client.disconnect();
    });

    it('a plain client is told that TLS is required', async () => {
      await expect(NbdClient.connect({ port, exportName: 'm' })).rejects.toThrow(/requires TLS/);
    });

    it('a wrong key or an unknown user fails the TLS handshake', async () => {
      const wrong = Buffer.from(KEY);
      wrong[0] = (wrong[0] ?? 0) ^ 0xff;
      await expect(NbdClient.connect({ port, exportName: 'm', tls: { username: 'alice', key: wrong }, timeoutMs: 3_000 })).rejects.toThrow(/TLS|closed/);
      await expect(NbdClient.connect({ port, exportName: 'm', tls: { username: 'mallory', key: KEY }, timeoutMs: 3_000 })).rejects.toThrow(/TLS|closed/);
    });

    it('a server without keys answers STARTTLS with NBD_REP_ERR_UNSUP', async () => {
      const plain = new NbdServer({ exports: [new MemoryBackend({ name: 'm', sizeBytes: SIZE })] });
      const address = await plain.listen();
      try {
        await expect(NbdClient.connect({ port: address.port, exportName: 'm', tls: { username: 'alice', key: KEY } })).rejects.toThrow(
          /refused NBD_OPT_STARTTLS \(reply 0x80000001/,
        );
      } finally {
        await plain.close();
      }
    });
  });

  it('negotiation before STARTTLS: TLS_REQD for options, a close for EXPORT_NAME, ACK for STARTTLS', async () => {
    const sent: Buffer[] = [];
    const ctx = {
      directory: { exports: [new MemoryBackend({ name: 'm', sizeBytes: SIZE })] },
      clientFlags: 1,
      tls: 'required' as const,
      state: newNegotiationState(),
      send: (b: Buffer) => sent.push(b),
      refused: () => undefined,
    };
    const info = Buffer.from([0, 0, 0, 1, 0x6d, 0, 0]);
    expect(handleOption(ctx, { option: NbdOption.GO, dataLength: info.length }, info)).toEqual({ kind: 'continue' });
    expect(sent.pop()?.readUInt32BE(12)).toBe(NbdReply.ERR_TLS_REQD);
    expect(handleOption(ctx, { option: NbdOption.LIST, dataLength: 0 }, Buffer.alloc(0))).toEqual({ kind: 'continue' });
    expect(sent.pop()?.readUInt32BE(12)).toBe(NbdReply.ERR_TLS_REQD);
    expect((await handleOption(ctx, { option: NbdOption.EXPORT_NAME, dataLength: 1 }, Buffer.from('m'))).kind).toBe('close');
    expect(handleOption(ctx, { option: NbdOption.STARTTLS, dataLength: 0 }, Buffer.alloc(0))).toEqual({ kind: 'starttls' });
    expect(sent.pop()?.readUInt32BE(12)).toBe(NbdReply.ACK);
    const active = { ...ctx, tls: 'active' as const };
    expect(handleOption(active, { option: NbdOption.STARTTLS, dataLength: 0 }, Buffer.alloc(0))).toEqual({ kind: 'continue' });
    expect(sent.pop()?.readUInt32BE(12)).toBe(NbdReply.ERR_INVALID);
  });

  it('reads psktool key files, and refuses malformed ones by file and line', () => {
    const good = join(dir.path, 'good.psk');
    writeFileSync(good, `alice:${KEY.toString('hex')}\nbob:${'ab'.repeat(32)}\n`);
    const keys = readPskFile(good);
    expect(keys.get('alice')?.equals(KEY)).toBe(true);
    expect(keys.get('bob')?.length).toBe(32);
    const bad = (text: string): (() => unknown) => {
      const path = join(dir.path, 'bad.psk');
      writeFileSync(path, text);
      return () => readPskFile(path);
    };
    expect(bad('alice\n')).toThrow(/line 1 is not username:hexkey/);
    expect(bad(`alice:${KEY.toString('hex')}\nbob:xyz\n`)).toThrow(/line 2: the key of bob is not hexadecimal/);
    expect(bad('alice:abcd\n')).toThrow(/has 2 bytes, need 16 to 64/);
    expect(bad('\n')).toThrow(UsageError);
  });
});
