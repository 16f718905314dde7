/**
 * Layer: the bzip2 encoder of CCKD track images (src/image/bzip2-encoder.ts). libbz2 (the optional
 * native `node-bzip2`) when it loads, the pure-JS compressjs when it does not or when
 * SNAPTAPE_NO_NATIVE_BZIP2=1: both make volumes Hercules reads, and the switch really changes
 * the encoder in a fresh process (each image holds the exact streams its encoder makes).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompressBounded } from '../../src/base/bounded-decompress.js';
import { chooseBzip2Encoder, type Bzip2Encoder } from '../../src/image/bzip2-encoder.js';
import { openVolume } from '../../src/volume/open-volume.js';
import { runTool } from '../harness/external-tools.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { expectCckdcdskClean } from './cckd-helpers.js';

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

const loadNative = (): unknown => createRequire(import.meta.url)('node-bzip2');
const native = chooseBzip2Encoder(loadNative, false);
const fallback = chooseBzip2Encoder(() => {
  throw Object.assign(new Error("Cannot find module 'node-bzip2'"), { code: 'MODULE_NOT_FOUND' });
}, false);

/** Half text, half noise: compressible, and large enough to be compressed (over 512 bytes). */
function payload(bytes: number, seed: number): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed >>> 0;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = i % 2000 < 1000 ? 0x41 + (i % 26) : x >>> 24;
  }
  return out;
}

describe('choosing the bzip2 encoder', () => {
  it('takes libbz2 when node-bzip2 loads, compressjs when it is absent or switched off', () => {
    expect(native.name).toBe('libbz2');
    expect(fallback.name).toBe('compressjs');
    expect(chooseBzip2Encoder(loadNative, true).name).toBe('compressjs');
    expect(chooseBzip2Encoder(() => ({}), false).name).toBe('compressjs');
  });

  it('both streams decode, through the bounded decoder, to the input; the bytes differ', () => {
    const body = payload(50_000, 3);
    const a = native.compress(body, 1);
    const b = fallback.compress(body, 1);
    expect(a.subarray(0, 4).toString('latin1')).toBe('BZh1');
    expect(b.subarray(0, 4).toString('latin1')).toBe('BZh1');
    expect(decompressBounded(a, 'bzip2', body.length).equals(body)).toBe(true);
    expect(decompressBounded(b, 'bzip2', body.length).equals(body)).toBe(true);
    expect(a.equals(b)).toBe(false);
  });
});

describe('bzip2 CCKD volumes from each encoder, read by Hercules', () => {
  const cases: Array<[string, NodeJS.ProcessEnv, Bzip2Encoder, Bzip2Encoder]> = [
    ['libbz2 (native)', {}, native, fallback],
    ['compressjs (SNAPTAPE_NO_NATIVE_BZIP2=1)', { SNAPTAPE_NO_NATIVE_BZIP2: '1' }, fallback, native],
  ];
  for (const [label, env, used, other] of cases) {
    it(`${label}: dasdseq gives the bytes back, cckdcdsk is clean, the stored streams are that encoder's`, () => {
      const name = used.name;
      const image = join(dir.path, `${name}.cckd`);
      const run = (args: string[]): void => {
        const r = runSnaptape(args, { env });
        expect(r.stderr, `snaptape ${args.join(' ')}`).toBe('');
        expect(r.status).toBe(0);
      };
      run(['init', image, '--type', '3390', '--cyls', '3', '--volser', 'BZ2001', '--format', 'cckd', '--compress', 'bzip2']);
      run(['alloc', image, 'BZ2.DATA', '--tracks', '6', '--recfm', 'FB', '--lrecl', '80', '--blksize', '8000']);
      const data = payload(160_000, name.length);
      const host = join(dir.path, `${name}.bin`);
      writeFileSync(host, data);
      run(['put', image, 'BZ2.DATA', host]);

      const seq = runTool('dasdseq', [image, 'BZ2.DATA'], { cwd: dir.path });
      expect(seq.status).toBe(0);
      expect(readFileSync(join(dir.path, 'BZ2.DATA')).equals(data)).toBe(true);
      expectCckdcdskClean(image, dir.path);

      // Each full data track is stored as exactly what this encoder makes of its body (the track
      // image after its 5-byte header), and not as what the other encoder makes.
      const file = readFileSync(image);
      const volume = openVolume(image, { readOnly: true });
      let checked = 0;
      try {
        for (let t = 0; t < volume.ckd.trackCount; t++) {
          const body = volume.readTrackImage(t).subarray(5);
          if (body.length < 20_000) continue;
          expect(file.includes(used.compress(body, 1)), `track ${t}`).toBe(true);
          expect(file.includes(other.compress(body, 1)), `track ${t}`).toBe(false);
          checked++;
        }
      } finally {
        volume.close();
      }
      expect(checked).toBeGreaterThan(0);
    }, 60_000);
  }
});
