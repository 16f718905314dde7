/**
 * Unit tests of the server's pieces that need no child process: the NBD backend over a Volume
 * (every write is a host write through the interceptor chain), the export name rule, and the
 * listen-address rules (loopback only unless --listen-any), and which Accept-Encoding headers
 * get a gzip answer.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { VolumeBackend, exportNameFor } from '../../src/export/volume-backend.js';
import { ZERO_FILL_CHUNK_BYTES } from '../../src/export/nbd-constants.js';
import { checkBindHost, parseControlAddress, parseTcpAddress } from '../../src/server/listen-address.js';
import { apiFailureFor, ControlError } from '../../src/server/control-error.js';
import { acceptsGzip } from '../../src/server/compressed-json.js';
import { IoError, SessionError } from '../../src/errors/snaptape-error.js';
import type { Volume } from '../../src/volume/volume.js';
import type { WriteEvent } from '../../src/volume/write-interceptor.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

describe('VolumeBackend', () => {
  let dir: TempDir;
  let volume: Volume;
  const events: WriteEvent[] = [];

  beforeEach(() => {
    dir = makeTempDir('snaptape-volume-backend-');
    volume = createVolume(join(dir.path, 'v.ckd'), { type: '3390', cylinders: 10, volser: 'VB0001' });
    events.length = 0;
    volume.addInterceptor({ name: 'recorder', stage: 'observer', beforeWrite: (e) => events.push(e) });
  });

  afterEach(() => {
    volume.close();
    dir.cleanup();
  });

  it('exports the flat view: size, reads and writes at track × slot size', () => {
    const backend = new VolumeBackend(volume);
    expect(backend.name).toBe('v');
    expect(backend.sizeBytes).toBe(150 * 56832);
    expect(backend.canTrim).toBe(false);
    const data = Buffer.alloc(1000, 0xa5);
    backend.write(3 * 56832 - 500, data);
    expect(events).toEqual([{ kind: 'raw', firstUnit: 2, unitCount: 2 }]);
    expect(backend.read(3 * 56832 - 500, 1000).equals(data)).toBe(true);
    expect(volume.readFlat(3 * 56832 - 500, 1000).equals(data)).toBe(true);
    backend.flush();
  });

  it('fills zeroes in bounded host writes through the chain', () => {
    const backend = new VolumeBackend(volume);
    backend.write(0, Buffer.alloc(3 * ZERO_FILL_CHUNK_BYTES, 0x11));
    events.length = 0;
    backend.writeZeroes(0, 2 * ZERO_FILL_CHUNK_BYTES + 100);
    expect(events).toHaveLength(3);
    expect(backend.read(0, 2 * ZERO_FILL_CHUNK_BYTES + 100).every((b) => b === 0)).toBe(true);
    expect(backend.read(2 * ZERO_FILL_CHUNK_BYTES + 100, 1)[0]).toBe(0x11);
  });
});

describe('server naming and address rules', () => {
  it('names an export after the image file without its last extension', () => {
    expect(exportNameFor('/a/b/src001.ckd')).toBe('src001');
    expect(exportNameFor('disk.v1.fba')).toBe('disk.v1');
    expect(exportNameFor('plain')).toBe('plain');
    expect(exportNameFor('/x/.hidden')).toBe('.hidden');
  });

  it('parses NBD and control addresses', () => {
    expect(parseTcpAddress('127.0.0.1:10809', '--nbd')).toEqual({ host: '127.0.0.1', port: 10809 });
    expect(parseTcpAddress('0', '--nbd')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseTcpAddress('[::1]:99', '--nbd')).toEqual({ host: '::1', port: 99 });
    expect(() => parseTcpAddress('127.0.0.1:99999', '--nbd')).toThrow(/^Cannot parse --nbd/);
    expect(parseControlAddress('127.0.0.1:0')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(parseControlAddress('/tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(parseControlAddress('ctl.sock')).toEqual({ kind: 'unix', path: 'ctl.sock' });
    expect(() => parseControlAddress(`/${'d'.repeat(120)}`)).toThrow(/longer than 107 bytes/);
  });

  it('binds to loopback only, unless --listen-any (with a warning)', () => {
    expect(checkBindHost('127.0.0.1', 'NBD', false)).toBeUndefined();
    expect(() => checkBindHost('0.0.0.0', 'NBD', false)).toThrow(/^Cannot listen for NBD on 0.0.0.0: not a loopback address/);
    expect(checkBindHost('0.0.0.0', 'control', true)).toMatch(/not a loopback address/);
  });

  it('maps failures to HTTP statuses and JSON bodies', () => {
    expect(apiFailureFor(new ControlError('UNKNOWN_SESSION', 'Cannot find session x'))).toEqual({
      status: 404,
      body: { error: { code: 'UNKNOWN_SESSION', message: 'Cannot find session x', details: {} } },
    });
    expect(apiFailureFor(new SessionError('Cannot pause s: it is completed')).status).toBe(409);
    // An I/O error a request's own path caused is the client's (400); a real I/O failure stays 500.
    expect(apiFailureFor(new IoError('Cannot create tape: /x/y.aws: no such file', { path: '/x/y.aws', errno: 'ENOENT' })).status).toBe(400);
    expect(apiFailureFor(new IoError('Cannot write the tape: EIO', { path: '/x/y.aws', errno: 'EIO' })).status).toBe(500);
    expect(apiFailureFor(new Error('boom\nstack')).body.error).toEqual({ code: 'INTERNAL', message: 'Cannot complete the request: internal error: boom' });
  });
});

describe('acceptsGzip', () => {
  it('takes gzip (or *) listed with a quality above 0, and nothing else', () => {
    const cases: Array<[string | string[] | undefined, boolean]> = [
      [undefined, false],
      ['', false],
      ['identity', false],
      ['br', false],
      ['deflate, br', false],
      ['gzip', true],
      ['GZIP', true],
      ['x-gzip', true],
      ['gzip, deflate, br', true],
      ['br;q=1.0, gzip;q=0.8', true],
      ['gzip;q=0', false],
      ['gzip;q=0.0, *;q=1', false],
      ['*', true],
      ['*;q=0', false],
      ['deflate, *;q=0.1', true],
      [['deflate', 'gzip'], true],
      ['gzip;q=bad', false],
    ];
    for (const [header, expected] of cases) expect(acceptsGzip(header), JSON.stringify(header)).toBe(expected);
  });
});
