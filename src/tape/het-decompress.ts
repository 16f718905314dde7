/**
 * Decompression of HET blocks (native-layout/aws-block-header.md): each block is compressed as a whole, with
 * zlib (`compress2`, a stream starting 78 xx) or bzip2 (a stream starting "BZh"), and flags1 says
 * which. Decoding is bounded (src/base/bounded-decompress.ts): it stops once the output passes
 * MAX_BLOCK_BYTES, so a small crafted block cannot expand to gigabytes.
 *
 * Invariant: a block that does not decompress, or decompresses to more than MAX_BLOCK_BYTES, is a
 * TapeFormatError naming the block number and byte offset, never a crash.
 */
import { OutputLimitError, decompressBounded } from '../base/bounded-decompress.js';
import { TapeFormatError } from '../errors/snaptape-error.js';
import { MAX_BLOCK_BYTES } from './aws-block-header.js';

export type BlockCompression = 'none' | 'zlib' | 'bzip2';

export interface BlockLocation {
  readonly path: string;
  readonly blockNumber: number;
  readonly offsetBytes: number;
}

function describe(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  return text.split('\n')[0] ?? 'unknown error';
}

/** Returns the block's data, decompressed when the header said it is compressed. */
export function decompressBlock(stored: Buffer, compression: BlockCompression, where: BlockLocation): Buffer {
  if (compression === 'none') return stored;
  let data: Buffer;
  try {
    data = decompressBounded(stored, compression, MAX_BLOCK_BYTES);
  } catch (cause) {
    const problem =
      cause instanceof OutputLimitError
        ? `its ${compression} data expands past ${MAX_BLOCK_BYTES} bytes, the largest legal block`
        : `${compression} data is damaged (${describe(cause)})`;
    throw new TapeFormatError(`Cannot decompress block ${where.blockNumber} at byte offset ${where.offsetBytes} of ${where.path}: ${problem}`, {
      path: where.path,
      blockNumber: where.blockNumber,
      offsetBytes: where.offsetBytes,
      compression,
    });
  }
  if (data.length === 0) {
    throw new TapeFormatError(
      `Cannot decompress block ${where.blockNumber} at byte offset ${where.offsetBytes} of ${where.path}: it expands to ${data.length} bytes (allowed 1..${MAX_BLOCK_BYTES})`,
      { path: where.path, blockNumber: where.blockNumber, offsetBytes: where.offsetBytes, compression },
    );
  }
  return data;
}
