/**
 * Walks the chunk chain of an AWSTAPE/HET file for `snaptape check` (native-layout/aws-block-header.md). Unlike
 * the reader's index (tape/tape-index.ts), which stops at the first fault, this walk records every
 * header inconsistency and goes on along the curlen chain, and it tells a torn tail (the file ends
 * inside the last block) from damage in the middle of the tape.
 *
 * Invariants:
 * - the file is only read (one small pread per header);
 * - `entries` are whole blocks and tapemarks, numbered from the load point like the reader's index
 *   (tapemarks count), each with the chunks that hold it;
 * - `torn` is set only when nothing valid can follow the incomplete block: fewer than a header's
 *   bytes remain, the file ends inside a segmented block, or a chunk runs past the end of the file
 *   and no chunk header after it links back to it (else its length field is damaged, not torn).
 */
import { assert } from '../base/assert.js';
import { readFully } from '../base/file-io.js';
import { PhaseReporter } from '../base/phase-progress.js';
import {
  AWS_HEADER_BYTES,
  FLAG1_BZIP2,
  FLAG1_COMPRESSION_MASK,
  FLAG1_END_OF_RECORD,
  FLAG1_KNOWN_BITS,
  FLAG1_NEW_RECORD,
  FLAG1_TAPEMARK,
  FLAG1_ZLIB,
  MAX_BLOCK_BYTES,
  MAX_CHUNK_DATA_BYTES,
  decodeAwsBlockHeader,
  type AwsBlockHeader,
} from '../tape/aws-block-header.js';
import type { BlockCompression } from '../tape/het-decompress.js';
import { problem, type CheckLocation, type CheckProblem } from './check-report.js';

export interface ChainChunk {
  readonly offsetBytes: number;
  readonly curlenBytes: number;
}

export interface ChainEntry {
  readonly kind: 'block' | 'tapemark';
  readonly blockNumber: number;
  readonly offsetBytes: number;
  readonly endOffsetBytes: number;
  readonly compression: BlockCompression;
  readonly chunks: readonly ChainChunk[];
  /** Stored (possibly compressed) data bytes. */
  readonly storedBytes: number;
}

export interface TornTail {
  /** Where the incomplete final block starts: the tape ends here once repaired. */
  readonly offsetBytes: number;
  readonly blockNumber: number;
  readonly reason: string;
}

export interface TapeChain {
  readonly path: string;
  readonly sizeBytes: number;
  readonly entries: readonly ChainEntry[];
  readonly problems: readonly CheckProblem[];
  readonly torn: TornTail | undefined;
  /** True when some chunk carries a HET compression flag. */
  readonly compressed: boolean;
}

export function blockLocation(blockNumber: number, offsetBytes: number): CheckLocation {
  return { text: `block ${blockNumber} at byte offset ${offsetBytes}`, blockNumber, offsetBytes };
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

function compressionOf(flags1: number): BlockCompression {
  const bits = flags1 & FLAG1_COMPRESSION_MASK;
  return bits === FLAG1_ZLIB ? 'zlib' : bits === FLAG1_BZIP2 ? 'bzip2' : 'none';
}

function readHeader(fd: number, path: string, offsetBytes: number): AwsBlockHeader {
  const bytes = Buffer.alloc(AWS_HEADER_BYTES);
  readFully(fd, bytes, offsetBytes, path, 'the chunk header');
  return decodeAwsBlockHeader(bytes);
}

/**
 * True when a chunk header after `offsetBytes` links back to a chunk starting there (its prvlen is
 * the distance): then the chunk's curlen is damaged and valid chunks follow it.
 */
function chainContinuesAfter(fd: number, path: string, offsetBytes: number, sizeBytes: number): boolean {
  const last = Math.min(sizeBytes - AWS_HEADER_BYTES, offsetBytes + AWS_HEADER_BYTES + MAX_CHUNK_DATA_BYTES);
  const tail = Buffer.alloc(Math.max(0, last + AWS_HEADER_BYTES - offsetBytes));
  readFully(fd, tail, offsetBytes, path, 'the chunks after a damaged header');
  // Bounded: at most one candidate per byte of one chunk's largest length.
  for (let at = offsetBytes + AWS_HEADER_BYTES + 1; at <= last; at++) {
    const header = decodeAwsBlockHeader(tail.subarray(at - offsetBytes, at - offsetBytes + AWS_HEADER_BYTES));
    const linked = header.prvlenBytes === at - offsetBytes - AWS_HEADER_BYTES;
    if (linked && header.flags2 === 0 && (header.flags1 & ~FLAG1_KNOWN_BITS) === 0) return true;
  }
  return false;
}

interface OpenBlock {
  readonly offsetBytes: number;
  readonly compression: BlockCompression;
  readonly chunks: ChainChunk[];
}

class ChainWalk {
  readonly entries: ChainEntry[] = [];
  readonly problems: CheckProblem[] = [];
  open: OpenBlock | undefined;
  compressed = false;

  report(kind: string, offsetBytes: number, state: string): void {
    const blockNumber = this.entries.length;
    this.problems.push(problem(kind, blockLocation(blockNumber, offsetBytes), `block ${blockNumber} at byte offset ${offsetBytes} ${state}`));
  }

  closeOpen(): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    assert(open.chunks.length > 0, `block at ${open.offsetBytes} has a chunk`);
    const last = open.chunks[open.chunks.length - 1] as ChainChunk;
    const storedBytes = open.chunks.reduce((n, c) => n + c.curlenBytes, 0);
    if (open.compression === 'none' && storedBytes > MAX_BLOCK_BYTES)
      this.report('block-too-long', open.offsetBytes, `is ${storedBytes} bytes, longer than ${MAX_BLOCK_BYTES} (Hercules 3.13 rejects it)`);
    this.entries.push({
      kind: 'block',
      blockNumber: this.entries.length,
      offsetBytes: open.offsetBytes,
      endOffsetBytes: last.offsetBytes + AWS_HEADER_BYTES + last.curlenBytes,
      compression: open.compression,
      chunks: open.chunks,
      storedBytes,
    });
  }

  tapemark(offsetBytes: number): void {
    this.entries.push({
      kind: 'tapemark',
      blockNumber: this.entries.length,
      offsetBytes,
      endOffsetBytes: offsetBytes + AWS_HEADER_BYTES,
      compression: 'none',
      chunks: [],
      storedBytes: 0,
    });
  }

  /** Checks one whole chunk (its data is inside the file) and adds it to the walk. */
  chunk(offsetBytes: number, header: AwsBlockHeader, previousChunkBytes: number): void {
    const { curlenBytes, prvlenBytes, flags1, flags2 } = header;
    const at = this.open?.offsetBytes ?? offsetBytes;
    if (prvlenBytes !== previousChunkBytes) {
      this.report(
        'header-prvlen',
        at,
        `has previous length ${prvlenBytes} in the chunk header at ${offsetBytes}, but the chunk before holds ${previousChunkBytes} bytes`,
      );
    }
    if (flags2 !== 0) this.report('header-flags', at, `has bad flags2 ${hex(flags2)} in the chunk header at ${offsetBytes} (Hercules writes 0x00)`);
    if ((flags1 & ~FLAG1_KNOWN_BITS) !== 0)
      this.report('header-flags', at, `has bad flags1 ${hex(flags1)} in the chunk header at ${offsetBytes} (unknown bits)`);
    if ((flags1 & FLAG1_TAPEMARK) !== 0 && curlenBytes === 0) {
      if (flags1 !== FLAG1_TAPEMARK) this.report('header-flags', at, `has bad flags1 ${hex(flags1)} on a tapemark at ${offsetBytes} (a tapemark is 0x40)`);
      if (this.open) this.report('header-flags', at, `has no end-of-record chunk: a tapemark at ${offsetBytes} cuts it short`);
      this.closeOpen();
      this.tapemark(offsetBytes);
      return;
    }
    if ((flags1 & FLAG1_TAPEMARK) !== 0)
      this.report('header-flags', at, `has flags1 ${hex(flags1)} (tapemark) on a chunk of ${curlenBytes} data bytes at ${offsetBytes}`);
    if (curlenBytes === 0) this.report('header-flags', at, `has a data chunk of length 0 at ${offsetBytes} (flags1 ${hex(flags1)})`);
    if ((flags1 & FLAG1_COMPRESSION_MASK) === FLAG1_COMPRESSION_MASK)
      this.report('header-flags', at, `has flags1 ${hex(flags1)} at ${offsetBytes}: both zlib and bzip2`);
    const compression = compressionOf(flags1);
    if (compression !== 'none') this.compressed = true;
    const isFirst = (flags1 & FLAG1_NEW_RECORD) !== 0;
    if (this.open && isFirst) {
      this.report('header-flags', at, `has no end-of-record chunk: a new block starts at ${offsetBytes}`);
      this.closeOpen();
    }
    if (!this.open && !isFirst)
      this.report('header-flags', offsetBytes, `has flags1 ${hex(flags1)} at ${offsetBytes}: a continuation chunk with no first chunk (0x80) before it`);
    if (this.open && this.open.compression !== compression)
      this.report('header-flags', at, `has flags1 ${hex(flags1)} at ${offsetBytes}: its chunks disagree on compression`);
    const open = this.open ?? { offsetBytes, compression, chunks: [] };
    open.chunks.push({ offsetBytes, curlenBytes });
    this.open = open;
    if ((flags1 & FLAG1_END_OF_RECORD) !== 0) this.closeOpen();
  }
}

/** Walks every chunk header of the tape open on `fd` (read-only). */
export function walkTapeChain(fd: number, path: string, sizeBytes: number, progress: PhaseReporter = new PhaseReporter()): TapeChain {
  const walk = new ChainWalk();
  progress.begin('check', sizeBytes, 'bytes');
  let torn: TornTail | undefined;
  let offsetBytes = 0;
  let previousChunkBytes = 0;
  let lengthDamaged = false;
  const tear = (reason: string): void => {
    const start = walk.open?.offsetBytes ?? offsetBytes;
    torn = { offsetBytes: start, blockNumber: walk.entries.length, reason };
    walk.report('torn-block', start, `is torn: ${reason} (the file is ${sizeBytes} bytes)`);
  };
  // Bounded: every pass advances offsetBytes by at least one header.
  while (offsetBytes < sizeBytes) {
    const remainingBytes = sizeBytes - offsetBytes;
    if (remainingBytes < AWS_HEADER_BYTES) {
      tear(`only ${remainingBytes} of the ${AWS_HEADER_BYTES} bytes of a chunk header at ${offsetBytes} are in the file`);
      break;
    }
    const header = readHeader(fd, path, offsetBytes);
    if (header.curlenBytes > remainingBytes - AWS_HEADER_BYTES) {
      if (chainContinuesAfter(fd, path, offsetBytes, sizeBytes)) {
        walk.report(
          'header-length',
          walk.open?.offsetBytes ?? offsetBytes,
          `has a chunk header at ${offsetBytes} saying ${header.curlenBytes} data bytes, past the end of the file, yet chunks follow it: its length field is damaged`,
        );
        lengthDamaged = true;
      } else {
        tear(`the chunk header at ${offsetBytes} says ${header.curlenBytes} data bytes but only ${remainingBytes - AWS_HEADER_BYTES} are in the file`);
      }
      break;
    }
    walk.chunk(offsetBytes, header, previousChunkBytes);
    previousChunkBytes = header.curlenBytes;
    offsetBytes += AWS_HEADER_BYTES + header.curlenBytes;
    progress.advance(AWS_HEADER_BYTES + header.curlenBytes);
  }
  // A torn or damaged tail is not walked; the phase still ends at the file's size.
  progress.advance(sizeBytes - offsetBytes);
  if (torn === undefined && !lengthDamaged && walk.open !== undefined) tear('the file ends before its end-of-record chunk (0x20)');
  const lastEntry = walk.entries[walk.entries.length - 1];
  assert(lastEntry === undefined || lastEntry.endOffsetBytes <= sizeBytes, 'every whole entry lies inside the file');
  assert(torn === undefined || torn.offsetBytes < sizeBytes, 'a torn block starts inside the file');
  return { path, sizeBytes, entries: walk.entries, problems: walk.problems, torn, compressed: walk.compressed };
}

/** The stored bytes of a block (chunk headers stripped), read through `fd`. */
export function readStoredBlock(fd: number, path: string, entry: ChainEntry): Buffer {
  const parts = entry.chunks.map((c) => {
    const data = Buffer.alloc(c.curlenBytes);
    readFully(fd, data, c.offsetBytes + AWS_HEADER_BYTES, path, `block ${entry.blockNumber}`);
    return data;
  });
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}
