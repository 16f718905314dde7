/**
 * The Hercules-made reference vectors in test/fixtures/vectors, unpacked into a test's temp
 * dir on demand (some are gzip'd).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

export const VECTORS_DIR = fileURLToPath(new URL('../fixtures/vectors/', import.meta.url));

/** Path of a vector; a `.gz` one is unpacked into `dir` and the unpacked path is returned. */
export function vectorPath(name: string, dir: string): string {
  const plain = join(VECTORS_DIR, name);
  if (existsSync(plain)) return plain;
  const packed = `${plain}.gz`;
  if (!existsSync(packed)) throw new Error(`no vector ${name} in ${VECTORS_DIR}`);
  const out = join(dir, name);
  if (!existsSync(out)) writeFileSync(out, gunzipSync(readFileSync(packed)));
  return out;
}
