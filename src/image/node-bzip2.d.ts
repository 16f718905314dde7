/**
 * Type declaration for the untyped optional `node-bzip2` package (libbz2 bindings). Only its
 * encoder is used (src/image/bzip2-encoder.ts): its decoder takes no output bound, so decoding
 * stays with src/base/bounded-decompress.ts.
 */
declare module 'node-bzip2' {
  export interface CompressionOptions {
    /** bzip2 block size in units of 100 kB, 1 to 9. */
    readonly level?: number;
    readonly buffering?: 'auto' | 'always' | 'never';
  }
  export function compress(data: Uint8Array, options?: CompressionOptions): Buffer;
}
