/**
 * The one way snaptape decompresses outside input (HET tape blocks, CCKD track images): zlib or
 * bzip2, stopped as soon as the output passes the largest legal size of what it decodes. A small
 * hostile stream (785 bytes of bzip2 make 1 GiB of zeros) must not cost more time or memory than a
 * legal block or track does.
 *
 * Invariant: at most `limitBytes` of output are ever held; past it, OutputLimitError is thrown
 * (never a RangeError or a huge buffer). Callers turn it, like any other decoder error, into their
 * family's typed error naming the block or track.
 */
import { inflateSync } from 'node:zlib';
import type Bunzip from 'seek-bzip';
import { lazyPackage } from './lazy-package.js';

/** Loaded by the first bzip2 stream decoded (a CCKD or HET image's). */
const bunzip = lazyPackage<typeof Bunzip>('seek-bzip');

export type Decompressor = 'zlib' | 'bzip2';

/** The output passed `limitBytes`: not a SnaptapeError itself, as only the caller knows what was read. */
export class OutputLimitError extends Error {
  constructor(readonly limitBytes: number) {
    super(`expands past ${limitBytes} bytes`);
    this.name = 'OutputLimitError';
  }
}

/** bzip2 output sink: a buffer of exactly the limit, refusing the byte after it. */
class BoundedSink {
  readonly buffer: Buffer;
  length = 0;

  constructor(readonly limitBytes: number) {
    this.buffer = Buffer.alloc(limitBytes);
  }

  writeByte(byte: number): void {
    if (this.length === this.limitBytes) throw new OutputLimitError(this.limitBytes);
    this.buffer[this.length++] = byte;
  }
}

function isBufferTooLarge(error: unknown): boolean {
  return error instanceof RangeError && (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
}

/** Decompresses `stored`; throws OutputLimitError past `limitBytes`, or the decoder's own error. */
export function decompressBounded(stored: Buffer, method: Decompressor, limitBytes: number): Buffer {
  if (method === 'zlib') {
    try {
      // zlib checks maxOutputLength after each internal chunk, so it stops there too.
      return inflateSync(stored, { maxOutputLength: limitBytes });
    } catch (error) {
      if (isBufferTooLarge(error)) throw new OutputLimitError(limitBytes);
      throw error;
    }
  }
  const sink = new BoundedSink(limitBytes);
  bunzip().decode(stored, sink);
  // A copy of what was written: a short block does not keep the whole limit-sized buffer alive.
  return Buffer.from(sink.buffer.subarray(0, sink.length));
}
