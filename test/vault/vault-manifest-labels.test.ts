/**
 * Layer: behaviour. A vault manifest lists the tape's label blocks: the 80-byte blocks outside its
 * data sets. A block that is stored in 80 bytes but compressed (HET) is not a label, whatever it
 * holds: one left after the closing tapemark pair (an old set the cartridge was overwritten with
 * something shorter) decompressed into the labels as a longer string, and the manifest, once
 * stored, was refused by its own reader ("its labels are not 80-character strings"), so the
 * cartridge could not be recalled or read in place. Found by reading buildVaultManifest.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Prng } from '../../src/base/prng.js';
import { buildVaultManifest, parseVaultManifest } from '../../src/vault/vault-manifest.js';
import { HET_ZLIB } from '../harness/bombs.js';
import { runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-vault-manifest-');
afterAll(() => temp.cleanup());

/** One AWSTAPE chunk header: this chunk's length, the previous one's, flags. */
function header(length: number, previous: number, flags: number): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt16LE(length, 0);
  h.writeUInt16LE(previous, 2);
  h[4] = flags;
  return h;
}

/** zlib bytes of exactly 80 that decompress to more than 80. */
function compressedIn80Bytes(): Buffer {
  // Bounded: the compressed length grows with the incompressible prefix by about a byte a byte;
  // a few lengths of zeros after it, so that some prefix lands on exactly 80.
  const noise = Buffer.alloc(200);
  new Prng(80).fill(noise);
  for (const zeros of [400, 401, 402, 403, 1000])
    for (let k = 0; k < noise.length; k++) {
      const z = deflateSync(Buffer.concat([noise.subarray(0, k), Buffer.alloc(zeros)]));
      if (z.length === 80) return z;
    }
  throw new Error('no prefix gave 80 compressed bytes');
}

describe('a vault manifest of a labelled tape with a compressed 80-byte block past its end', () => {
  it('lists only 80-byte labels, and its own reader takes it back', () => {
    const volume = join(temp.path, 'v.fba');
    const path = join(temp.path, 'old-set.aws');
    runSnaptapeOk(['init', volume, '--type', 'fba', '--blocks', '256', '--volser', 'FBA001']);
    runSnaptapeOk(['backup', volume, '--to', path]);
    // Past the closing tapemark pair: a compressed block of an older, longer set.
    const stored = compressedIn80Bytes();
    appendFileSync(path, Buffer.concat([header(stored.length, 0, 0xa0 | HET_ZLIB), stored, header(0, stored.length, 0x40)]));
    const manifest = buildVaultManifest(path, 'OLD001');
    expect(manifest.labels.map((l) => l.length).filter((n) => n !== 80)).toEqual([]);
    expect(() => parseVaultManifest(JSON.stringify(manifest), 'OLD001.manifest.json')).not.toThrow();
  });
});
