/**
 * The bzip2 encoder for CCKD track images: libbz2 through the optional native `node-bzip2`
 * package when it loads (about 100× faster), else the pure-JS `compressjs`. Both write standard
 * bzip2 streams that Hercules reads (test/cckd/cckd-bzip2-encoder.test.ts); the bytes differ.
 *
 * Only encoding is native: node-bzip2's decoder cannot stop at an output limit, so every bzip2
 * stream snaptape reads still goes through src/base/bounded-decompress.ts (bomb-safe).
 *
 * SNAPTAPE_NO_NATIVE_BZIP2=1 forces the fallback (read once, when this module loads): for
 * machines where the native build misbehaves, and for the test and bench that compare the two.
 */
import { createRequire } from 'node:module';
import type compressjsPackage from 'compressjs';
import { lazyPackage } from '../base/lazy-package.js';
import type * as NodeBzip2 from 'node-bzip2';

export type Bzip2EncoderName = 'libbz2' | 'compressjs';

export interface Bzip2Encoder {
  readonly name: Bzip2EncoderName;
  /** Compresses `input` into one bzip2 stream with the given block size (units of 100 kB). */
  compress(input: Buffer, blockSize100k: number): Buffer;
}

/** The environment switch that forces the pure-JS encoder. */
export const NO_NATIVE_BZIP2_ENV = 'SNAPTAPE_NO_NATIVE_BZIP2';

/** Loaded by the first compression that falls back to it. */
const compressjs = lazyPackage<typeof compressjsPackage>('compressjs');

const pureJs: Bzip2Encoder = {
  name: 'compressjs',
  compress: (input, blockSize100k) => Buffer.from(compressjs().Bzip2.compressFile(input, null, blockSize100k) as Uint8Array),
};

/**
 * Picks the encoder: the native one when `load` returns it, else compressjs. `load` is the seam
 * the test uses to stand for a machine where the optional package was not built.
 */
export function chooseBzip2Encoder(load: () => unknown, disabled: boolean): Bzip2Encoder {
  if (disabled) return pureJs;
  let native: typeof NodeBzip2;
  try {
    native = load() as typeof NodeBzip2;
  } catch {
    // Not installed, or its native build failed: an optional dependency may be absent.
    return pureJs;
  }
  if (typeof native?.compress !== 'function') return pureJs;
  return { name: 'libbz2', compress: (input, blockSize100k) => native.compress(input, { level: blockSize100k }) };
}

let chosen: Bzip2Encoder | undefined;

/** The encoder for this process, chosen on first use (the native module loads lazily). */
export function bzip2Encoder(): Bzip2Encoder {
  chosen ??= chooseBzip2Encoder(() => createRequire(import.meta.url)('node-bzip2'), process.env[NO_NATIVE_BZIP2_ENV] === '1');
  return chosen;
}
