/** Type declaration for the untyped `seek-bzip` package (pure-JS bzip2 decoder, used for HET blocks). */
declare module 'seek-bzip' {
  const Bunzip: {
    decode(input: Buffer, expectedSizeBytes?: number): Buffer;
  };
  export default Bunzip;
}
