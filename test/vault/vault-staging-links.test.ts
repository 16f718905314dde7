/**
 * Layer: unit, hostile local user. A vaulted cartridge read in place is fetched in part into a
 * sparse file under the library's staging folder (`LIB/staging/vault-<volser>-<pid>/<volser>.aws`),
 * made by the first fetch and filled by the next: a symbolic link (dangling, or to a file) or a
 * hard link put at its name, to another file, is refused with a typed error naming it, and the
 * other file is neither made, emptied, sized nor written.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVaultClient } from '../../src/vault/s3-client.js';
import { fetchCartridgeBlocks } from '../../src/vault/vault-fetch.js';
import type { VaultManifest } from '../../src/vault/vault-manifest.js';
import type { TapeIndex } from '../../src/tape/tape-index.js';
import { IoError } from '../../src/errors/snaptape-error.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const BLOCK_BYTES = 100;
const BLOCKS = 4;
const savedEnv = { ...process.env };
let dir: TempDir;
let server: Server;
let endpoint: string;

beforeAll(async () => {
  dir = makeTempDir('snaptape-vault-links-');
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' });
  // Every range is answered in full, with 0x22 bytes: a fetch that is not refused writes them.
  server = createServer((req, res) => {
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    const start = Number(range?.[1] ?? 0);
    const end = Number(range?.[2] ?? 0) + 1;
    res.writeHead(206, { 'content-length': String(end - start), 'content-range': `bytes ${start}-${end - 1}/*` });
    res.end(Buffer.alloc(end - start, 0x22));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  process.env = savedEnv;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  dir?.cleanup();
});

const manifest = { volser: 'LK0001', sizeBytes: BLOCKS * BLOCK_BYTES } as unknown as VaultManifest;
const index = {
  entryCount: BLOCKS,
  entryAt: (b: number) => (b < BLOCKS ? { offsetBytes: b * BLOCK_BYTES, endOffsetBytes: (b + 1) * BLOCK_BYTES } : undefined),
} as unknown as TapeIndex;

async function fetchInto(path: string): Promise<unknown> {
  const client = await createVaultClient({ endpoint, maxAttempts: 1 });
  try {
    await fetchCartridgeBlocks(client, { bucket: 'vault', prefix: 'lib' }, manifest, index, [0, 1, 2, 3], path);
    return undefined;
  } catch (error) {
    return error;
  } finally {
    client.destroy();
  }
}

function expectRefused(error: unknown, path: string, words: string): void {
  expect(error).toBeInstanceOf(IoError);
  expect((error as Error).message).toContain(path);
  expect((error as Error).message).toContain(words);
}

describe('a partial cartridge in the staging folder is never written through a link', () => {
  let n = 0;
  const staged = (): string => join(dir.path, `LK0001-${n++}.aws`);

  it('a dangling symbolic link at its name is refused, and no file is made where it points', async () => {
    const path = staged();
    const victim = `${path}.victim`;
    symlinkSync(victim, path);
    expectRefused(await fetchInto(path), path, 'symbolic link');
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
  });

  for (const [kind, link, words] of [
    ['a symbolic link', symlinkSync, 'symbolic link'],
    ['a hard link', linkSync, 'hard link'],
  ] as const) {
    it(`${kind} to another file at its name is refused, and that file is left alone`, async () => {
      const path = staged();
      const victim = `${path}.victim`;
      const bytes = Buffer.alloc(BLOCKS * BLOCK_BYTES, 0x5a);
      writeFileSync(victim, bytes);
      link(victim, path);
      expectRefused(await fetchInto(path), path, words);
      expect(readFileSync(victim).equals(bytes), 'the victim is neither emptied nor written').toBe(true);
    });
  }

  it('a partial cartridge of its own is made by the first fetch and filled by the next', async () => {
    const path = staged();
    expect(await fetchInto(path)).toBeUndefined();
    expect(readFileSync(path).equals(Buffer.alloc(BLOCKS * BLOCK_BYTES, 0x22))).toBe(true);
    writeFileSync(path, Buffer.alloc(BLOCKS * BLOCK_BYTES, 0x11));
    expect(await fetchInto(path)).toBeUndefined();
    expect(readFileSync(path).equals(Buffer.alloc(BLOCKS * BLOCK_BYTES, 0x22)), 'filled again in place').toBe(true);
  });
});
