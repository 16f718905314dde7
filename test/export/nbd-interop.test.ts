/**
 * Interop: real NBD clients (qemu-img, qemu-io from qemu-utils; nbdinfo, nbdcopy from libnbd-bin)
 * against a served RawFileBackend. The tools run as async child processes, because the server
 * runs on this process's event loop.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdServer } from '../../src/export/nbd-server.js';
import { RawFileBackend } from '../../src/export/raw-file-backend.js';
import type { NbdServerEvent } from '../../src/export/nbd-server-events.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runToolAsync } from './helpers/async-tool.js';
import { SeededRandom } from './helpers/seeded-random.js';

const IMAGE_BYTES = 4 * 1024 * 1024;

describe('NBD interop with qemu and libnbd tools', () => {
  let dir: TempDir;
  let server: NbdServer;
  let backend: RawFileBackend;
  let readOnlyBackend: RawFileBackend;
  let imagePath: string;
  let url: string;
  const events: NbdServerEvent[] = [];

  beforeAll(async () => {
    dir = makeTempDir('snaptape-nbd-interop-');
    imagePath = join(dir.path, 'disk.raw');
    writeFileSync(imagePath, new SeededRandom(7).bytes(IMAGE_BYTES));
    const roPath = join(dir.path, 'ro.raw');
    writeFileSync(roPath, Buffer.alloc(IMAGE_BYTES, 0x5a));
    backend = new RawFileBackend({ path: imagePath, name: 'disk' });
    readOnlyBackend = new RawFileBackend({ path: roPath, name: 'ro', readOnly: true });
    server = new NbdServer({ exports: [backend, readOnlyBackend] });
    server.onEvent((event) => events.push(event));
    const { port } = await server.listen();
    url = `nbd://127.0.0.1:${port}/disk`;
  });

  afterAll(async () => {
    await server.close();
    backend.close();
    readOnlyBackend.close();
    dir.cleanup();
  });

  it('qemu-img info reports the raw size', async () => {
    const result = await runToolAsync('qemu-img', ['info', '--output=json', url]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const info = JSON.parse(result.stdout) as { 'virtual-size': number; format: string };
    expect(info['virtual-size']).toBe(IMAGE_BYTES);
    expect(info.format).toBe('raw');
  });

  it('nbdinfo describes the export', async () => {
    const result = await runToolAsync('nbdinfo', ['--json', url]);
    expect(result.status, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout) as {
      exports: Array<{ 'export-name': string; 'export-size': number; is_read_only: boolean; can_multi_conn: boolean; block_size_maximum: number }>;
    };
    const first = info.exports[0];
    expect(first?.['export-name']).toBe('disk');
    expect(first?.['export-size']).toBe(IMAGE_BYTES);
    expect(first?.is_read_only).toBe(false);
    expect(first?.can_multi_conn).toBe(true);
  });

  it('nbdinfo --list shows every export', async () => {
    const port = server.address.port;
    const result = await runToolAsync('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${port}`]);
    expect(result.status, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout) as { exports: Array<{ 'export-name': string }> };
    expect(info.exports.map((e) => e['export-name']).sort()).toEqual(['disk', 'ro']);
  });

  it('nbdcopy copies the export byte for byte', async () => {
    const outPath = join(dir.path, 'copy.raw');
    const result = await runToolAsync('nbdcopy', [url, outPath]);
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(outPath).equals(readFileSync(imagePath))).toBe(true);
  });

  it('qemu-io writes a pattern that reads back and lands in the file', async () => {
    const result = await runToolAsync('qemu-io', ['-f', 'raw', url, '-c', 'write -P 0xab 0 64k', '-c', 'read -P 0xab 0 64k']);
    expect(result.status, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).not.toMatch(/Pattern verification failed|error/i);
    const file = readFileSync(imagePath);
    expect(file.subarray(0, 65536).every((byte) => byte === 0xab)).toBe(true);
  });

  it('qemu-io write-zeroes and flush work', async () => {
    const result = await runToolAsync('qemu-io', ['-f', 'raw', url, '-c', 'write -z 1M 128k', '-c', 'flush', '-c', 'read -P 0 1M 128k']);
    expect(result.status, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).not.toMatch(/Pattern verification failed|error/i);
    expect(
      readFileSync(imagePath)
        .subarray(1 << 20, (1 << 20) + 131072)
        .every((byte) => byte === 0),
    ).toBe(true);
  });

  it('qemu-io on a read-only export cannot write', async () => {
    const port = server.address.port;
    const result = await runToolAsync('qemu-io', ['-f', 'raw', '-r', `nbd://127.0.0.1:${port}/ro`, '-c', 'read -P 0x5a 0 64k']);
    expect(result.status, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).not.toMatch(/Pattern verification failed/);
    const write = await runToolAsync('qemu-io', ['-f', 'raw', `nbd://127.0.0.1:${port}/ro`, '-c', 'write -P 1 0 4k']);
    expect(write.stdout + write.stderr).toMatch(/read.only|Permission denied|Operation not permitted/i);
  });

  it('the server saw no protocol errors from real clients', () => {
    expect(events.filter((e) => e.kind === 'protocol-error')).toEqual([]);
  });
});
