/**
 * Type declaration for the untyped `seek-bzip` package (pure-JS bzip2 decoder), used only by
 * src/base/bounded-decompress.ts. `decode` writes into `output` when it is a sink with `writeByte`
 * (and then returns nothing): that is how decoding stops at a limit.
 */
declare module 'seek-bzip' {
  interface ByteSink {
    writeByte(byte: number): void;
  }
  const Bunzip: {
    decode(input: Buffer, output: ByteSink, multistream?: boolean): undefined;
  };
  export default Bunzip;
}
