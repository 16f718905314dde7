/**
 * Type declaration for the untyped `compressjs` package: a pure-JS bzip2 compressor (the only
 * bzip2 *compressor* on the npm registry without a native build; `seek-bzip` only decodes). Used
 * for CCKD track images written with bzip2 when the native `node-bzip2` is absent
 * (src/image/bzip2-encoder.ts).
 */
declare module 'compressjs' {
  interface Bzip2Codec {
    compressFile(input: Uint8Array, output?: null, blockSizeMultiplier?: number): ArrayLike<number>;
  }
  const compressjs: { readonly Bzip2: Bzip2Codec };
  export default compressjs;
}
