/**
 * `snaptape serve` of a CKD image whose size table beside it is stale (another tool wrote the image,
 * or a crash): the table is rebuilt by one scan of every track. That scan ran on the first write
 * of an NBD client, on the thread that serves every connection: on a dense 3390-3 it froze every
 * client of the server for 11 s (found with a CPU profile of the server under an external NBD
 * writer). The server now builds the table when it opens the image, before it listens, and its start
 * line says where each export's table came from; the first write then finds it ready.
 */
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { runToolAsync } from '../export/helpers/async-tool.js';
import { killAllServers, makeFilledVolume, startServe } from './helpers/serve-process.js';

describe('snaptape serve: a stale size table', () => {
  let dir: TempDir;

  beforeAll(() => {
    dir = makeTempDir('snaptape-serve-sizes-');
  });

  afterAll(() => {
    killAllServers();
    dir.cleanup();
  });

  it('is rebuilt before the server listens, not on a client write', async () => {
    const path = makeFilledVolume(dir.path, 'stale.ckd');
    // The stamp in stale.ckd.sizes names the image's mtime: a later one says the image changed.
    const later = new Date(Date.now() + 60_000);
    utimesSync(path, later, later);
    const socket = join(dir.path, 'nbd.sock');
    const server = await startServe([path, '--nbd', `unix:${socket}`, '--control', join(dir.path, 'ctl.sock')]);
    expect(server.info.nbd.exports[0]?.sizeTable).toMatch(/^rebuilt by a scan: the image changed after/);
    expect(server.info.warnings).toEqual([]);
    const write = await runToolAsync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 56832 4096', `nbd+unix:///stale?socket=${socket}`]);
    expect(write.status, write.stderr).toBe(0);
  });

  it('is taken as stored when it is current', async () => {
    const path = makeFilledVolume(dir.path, 'current.ckd');
    const server = await startServe([path, '--nbd', `unix:${join(dir.path, 'nbd2.sock')}`, '--control', join(dir.path, 'ctl2.sock')]);
    expect(server.info.nbd.exports[0]?.sizeTable).toBe('stored');
  });
});
