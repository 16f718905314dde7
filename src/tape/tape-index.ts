/**
 * Builds the index of a tape file on open: every block and tapemark, with its block number, byte
 * offset and physical file number, found by walking the chunk headers (FORMATS.md section 4).
 *
 * Block numbers count blocks *and* tapemarks from the load point, starting at 0, as Hercules' hetlib
 * does; physical files are numbered from 1 and a tapemark belongs to the file it closes.
 *
 * Invariants checked here, each failure a TapeFormatError naming the block number and byte offset:
 * - every prvlen equals the curlen of the chunk before it (0 for the first chunk);
 * - no chunk or header runs past the end of the file;
 * - flags are known bits, chunks of a block go first (0x80) … last (0x20) with one compression;
 * - the file ends right after a tapemark (a closing tapemark is present).
 * The walk reads headers only (one small pread each), never data, and never writes.
 */
import { readSync } from 'node:fs';
import { translateIoError } from '../errors/io-error.js';
import { TapeFormatError } from '../errors/snaptape-error.js';
import {
  AWS_HEADER_BYTES, FLAG1_BZIP2, FLAG1_COMPRESSION_MASK, FLAG1_END_OF_RECORD, FLAG1_KNOWN_BITS, FLAG1_NEW_RECORD,
  FLAG1_TAPEMARK, FLAG1_ZLIB, MAX_BLOCK_BYTES, decodeAwsBlockHeader, type AwsBlockHeader,
} from './aws-block-header.js';
import type { BlockCompression } from './het-decompress.js';

export type TapeEntryKind = 'block' | 'tapemark';

export interface TapeIndexEntry {
  readonly kind: TapeEntryKind;
  /** Position from the load point, 0-based; tapemarks count. */
  readonly blockNumber: number;
  /** Offset of the entry's first chunk header. */
  readonly offsetBytes: number;
  /** Offset just past the entry's last chunk. */
  readonly endOffsetBytes: number;
  /** Data bytes as stored (the compressed size for a HET block; 0 for a tapemark). */
  readonly storedBytes: number;
  readonly chunkCount: number;
  readonly compression: BlockCompression;
  /** Physical file, 1-based. */
  readonly fileNumber: number;
  /** curlen of the last chunk, i.e. the prvlen the next chunk must carry. */
  readonly lastChunkBytes: number;
}

export interface TapeIndex {
  readonly path: string;
  readonly sizeBytes: number;
  readonly entries: readonly TapeIndexEntry[];
  readonly tapemarkCount: number;
}

interface OpenBlock {
  readonly offsetBytes: number;
  storedBytes: number;
  chunkCount: number;
  readonly compression: BlockCompression;
}

function compressionOf(flags1: number): BlockCompression | undefined {
  const bits = flags1 & FLAG1_COMPRESSION_MASK;
  if (bits === 0) return 'none';
  if (bits === FLAG1_ZLIB) return 'zlib';
  if (bits === FLAG1_BZIP2) return 'bzip2';
  return undefined;
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

class IndexBuilder {
  readonly entries: TapeIndexEntry[] = [];
  private fileNumber = 1;
  private tapemarkCount = 0;
  private open: OpenBlock | undefined;

  constructor(private readonly path: string) {}

  fail(offsetBytes: number, state: string): never {
    const blockNumber = this.entries.length;
    throw new TapeFormatError(`Cannot read tape ${this.path}: block ${blockNumber} at byte offset ${offsetBytes} ${state}`, {
      path: this.path, blockNumber, offsetBytes,
    });
  }

  /** Checks one chunk header and adds what it closes to the index. */
  addChunk(offsetBytes: number, header: AwsBlockHeader, previousChunkBytes: number, fileSizeBytes: number): void {
    const { curlenBytes, prvlenBytes, flags1, flags2 } = header;
    const at = this.open?.offsetBytes ?? offsetBytes;
    if (prvlenBytes !== previousChunkBytes) {
      this.fail(at, `has previous length ${prvlenBytes} in the chunk header at ${offsetBytes}, but the previous chunk holds ${previousChunkBytes} bytes`);
    }
    if (flags2 !== 0) this.fail(at, `has bad flags2 ${hex(flags2)} (only 0x00 is supported)`);
    if ((flags1 & ~FLAG1_KNOWN_BITS) !== 0) this.fail(at, `has bad flags1 ${hex(flags1)} (unknown bits)`);
    if ((flags1 & FLAG1_TAPEMARK) !== 0) {
      if (flags1 !== FLAG1_TAPEMARK || curlenBytes !== 0) this.fail(at, `has bad flags1 ${hex(flags1)} with length ${curlenBytes} (a tapemark is 0x40 with length 0)`);
      if (this.open !== undefined) this.fail(at, `is cut short by a tapemark at ${offsetBytes} before its end-of-record chunk`);
      this.push({ kind: 'tapemark', offsetBytes, endOffsetBytes: offsetBytes + AWS_HEADER_BYTES, storedBytes: 0, chunkCount: 1, compression: 'none', lastChunkBytes: 0 });
      this.tapemarkCount += 1;
      this.fileNumber += 1;
      return;
    }
    const compression = compressionOf(flags1);
    if (compression === undefined) this.fail(at, `has bad flags1 ${hex(flags1)} (both zlib and bzip2)`);
    if (curlenBytes === 0) this.fail(at, `has a data chunk of length 0 at ${offsetBytes} (flags1 ${hex(flags1)})`);
    const isFirst = (flags1 & FLAG1_NEW_RECORD) !== 0;
    if (this.open === undefined && !isFirst) this.fail(at, `has bad flags1 ${hex(flags1)}: a continuation chunk with no first chunk (0x80) before it`);
    if (this.open !== undefined && isFirst) this.fail(at, `has no end-of-record chunk: a new block starts at ${offsetBytes}`);
    if (this.open !== undefined && this.open.compression !== compression) this.fail(at, `has bad flags1 ${hex(flags1)}: its chunks disagree on compression`);
    const remainingBytes = fileSizeBytes - offsetBytes - AWS_HEADER_BYTES;
    if (curlenBytes > remainingBytes) this.fail(at, `is truncated: the chunk header at ${offsetBytes} says ${curlenBytes} data bytes but ${remainingBytes} remain in the file`);
    const open = this.open ?? { offsetBytes, storedBytes: 0, chunkCount: 0, compression };
    open.storedBytes += curlenBytes;
    open.chunkCount += 1;
    if (compression === 'none' && open.storedBytes > MAX_BLOCK_BYTES) this.fail(at, `is longer than ${MAX_BLOCK_BYTES} bytes`);
    this.open = open;
    if ((flags1 & FLAG1_END_OF_RECORD) !== 0) {
      this.open = undefined;
      const endOffsetBytes = offsetBytes + AWS_HEADER_BYTES + curlenBytes;
      this.push({ kind: 'block', offsetBytes: open.offsetBytes, endOffsetBytes, storedBytes: open.storedBytes, chunkCount: open.chunkCount, compression, lastChunkBytes: curlenBytes });
    }
  }

  private push(entry: Omit<TapeIndexEntry, 'blockNumber' | 'fileNumber'>): void {
    this.entries.push({ ...entry, blockNumber: this.entries.length, fileNumber: this.fileNumber });
  }

  finish(fileSizeBytes: number): TapeIndex {
    if (this.open !== undefined) this.fail(this.open.offsetBytes, 'is truncated: the file ends before its end-of-record chunk');
    const last = this.entries[this.entries.length - 1];
    if (last === undefined) this.fail(0, 'is missing: the file is empty (no closing tapemark)');
    if (last.kind !== 'tapemark') {
      this.fail(fileSizeBytes, `is missing: the file ends after block ${last.blockNumber} at byte offset ${last.offsetBytes} without a closing tapemark`);
    }
    return { path: this.path, sizeBytes: fileSizeBytes, entries: this.entries, tapemarkCount: this.tapemarkCount };
  }
}

/**
 * Walks every chunk header of an open tape and returns the validated index. Offsets in the index
 * are tape offsets; `baseOffsetBytes` is where the tape starts in the file (tape-region.ts).
 */
export function buildTapeIndex(fd: number, fileSizeBytes: number, path: string, baseOffsetBytes = 0): TapeIndex {
  const builder = new IndexBuilder(path);
  const headerBytes = Buffer.alloc(AWS_HEADER_BYTES);
  let offsetBytes = 0;
  let previousChunkBytes = 0;
  // Bounded: every pass advances offsetBytes by at least one header.
  while (offsetBytes < fileSizeBytes) {
    const remainingBytes = fileSizeBytes - offsetBytes;
    if (remainingBytes < AWS_HEADER_BYTES) {
      builder.fail(offsetBytes, `is truncated: only ${remainingBytes} of the ${AWS_HEADER_BYTES} header bytes remain in the file`);
    }
    try {
      readSync(fd, headerBytes, 0, AWS_HEADER_BYTES, baseOffsetBytes + offsetBytes);
    } catch (cause) {
      throw translateIoError(cause, `read the chunk header at byte offset ${offsetBytes}`, path);
    }
    const header = decodeAwsBlockHeader(headerBytes);
    builder.addChunk(offsetBytes, header, previousChunkBytes, fileSizeBytes);
    previousChunkBytes = header.curlenBytes;
    offsetBytes += AWS_HEADER_BYTES + header.curlenBytes;
  }
  return builder.finish(fileSizeBytes);
}
