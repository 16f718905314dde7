/**
 * Ranged fetches of a vaulted cartridge against a local HTTP server that misbehaves: when one
 * range fails, the fetch must not return (and close its file) while other ranges are still being
 * written, or their late bytes land in whatever file reuses the descriptor.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVaultClient } from '../../src/vault/s3-client.js';
import { fetchCartridgeBlocks } from '../../src/vault/vault-fetch.js';
import type { VaultManifest } from '../../src/vault/vault-manifest.js';
import type { TapeIndex } from '../../src/tape/tape-index.js';
import { VaultError } from '../../src/errors/snaptape-error.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const MIB = 1024 * 1024;
const BLOCK_BYTES = 100;
const savedEnv = { ...process.env };
let dir: TempDir;
let server: Server;
let endpoint: string;
/** Responses held open, to be finished late. */
const held: ServerResponse[] = [];

beforeAll(async () => {
  dir = makeTempDir();
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' });
  server = createServer((req, res) => {
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    const start = Number(range?.[1] ?? 0);
    const end = Number(range?.[2] ?? 0) + 1;
    if (start === 0) {
      // The first range: a short answer, at once.
      res.writeHead(206, { 'content-length': String(BLOCK_BYTES / 2), 'content-range': `bytes ${start}-${end - 1}/*` });
      res.end(Buffer.alloc(BLOCK_BYTES / 2, 0x11));
      return;
    }
    // The others: headers now, the bytes 300 ms later.
    res.writeHead(206, { 'content-length': String(end - start), 'content-range': `bytes ${start}-${end - 1}/*` });
    res.flushHeaders();
    held.push(res);
    setTimeout(() => {
      if (!res.destroyed) res.end(Buffer.alloc(end - start, 0x22));
    }, 300);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  process.env = savedEnv;
  for (const res of held) res.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  dir?.cleanup();
});

describe('ranged fetch of a vaulted cartridge from a failing store', () => {
  it('a failed range leaves no late write behind: a file opened after the failure stays untouched', async () => {
    const blocks = 4;
    const manifest = { volser: 'FD0001', sizeBytes: blocks * MIB } as unknown as VaultManifest;
    // One block per MiB: every block is a range of its own.
    const index = {
      entryCount: blocks,
      entryAt: (b: number) => (b < blocks ? { offsetBytes: b * MIB, endOffsetBytes: b * MIB + BLOCK_BYTES } : undefined),
    } as unknown as TapeIndex;
    const client = await createVaultClient({ endpoint, maxAttempts: 1 });
    const partial = join(dir.path, 'FD0001.partial');
    const failure = await fetchCartridgeBlocks(client, { bucket: 'vault', prefix: 'lib' }, manifest, index, [0, 1, 2, 3], partial).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(VaultError);
    expect((failure as Error).message).toMatch(/bytes 0-99 .*sent 50 of 100/);
    // Files opened now take the lowest free descriptors, the fetch's among them if it was closed early.
    const victims = Array.from({ length: 4 }, (_, i) => join(dir.path, `victim-${i}`));
    const fds = victims.map((path) => openSync(path, 'w+'));
    try {
      await new Promise((resolve) => setTimeout(resolve, 700));
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    for (const path of victims) {
      expect(statSync(path).size, `${path} was written by the failed fetch`).toBe(0);
      expect(readFileSync(path).length).toBe(0);
    }
    client.destroy();
  }, 20_000);
});
