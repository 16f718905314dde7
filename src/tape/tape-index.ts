/**
 * Builds the index of a tape file on open: every block and tapemark, with its block number, byte
 * offset and physical file number, found by walking the chunk headers (native-layout/aws-block-header.md).
 *
 * Block numbers count blocks *and* tapemarks from the load point, starting at 0, as Hercules' hetlib
 * does; physical files are numbered from 1 and a tapemark belongs to the file it closes.
 *
 * Invariants checked here, each failure a TapeFormatError naming the block number and byte offset:
 * - every prvlen equals the curlen of the chunk before it (0 for the first chunk);
 * - no chunk or header runs past the end of the file;
 * - flags are known bits, chunks of a block go first (0x80) … last (0x20) with one compression;
 * - the file ends right after a tapemark (a closing tapemark is present).
 * The walk reads headers only, never data, and never writes. Headers of small blocks are read a
 * window at a time (one pread per window, not per header); the entries are kept in typed columns
 * (about 23 bytes each), because a backup of a 3390-54 is a million blocks and a million entry
 * objects would cost hundreds of megabytes.
 */
import { readAtMost } from '../base/file-io.js';
import { TapeFormatError } from '../errors/snaptape-error.js';
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
  decodeAwsBlockHeader,
  type AwsBlockHeader,
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

const KIND_TAPEMARK = 0x80;
const COMPRESSIONS: readonly BlockCompression[] = ['none', 'zlib', 'bzip2'];

/** Growable typed columns of the entries, one row per block or tapemark. */
class EntryColumns {
  count = 0;
  private offsets = new Float64Array(1024);
  private storedBytes = new Uint32Array(1024);
  private chunkCounts = new Uint32Array(1024);
  private fileNumbers = new Uint32Array(1024);
  private lastChunkBytes = new Uint16Array(1024);
  /** KIND_TAPEMARK | index into COMPRESSIONS. */
  private kinds = new Uint8Array(1024);

  push(entry: Omit<TapeIndexEntry, 'blockNumber' | 'endOffsetBytes'>): void {
    if (this.count === this.offsets.length) this.grow(this.count * 2);
    const i = this.count;
    this.offsets[i] = entry.offsetBytes;
    this.storedBytes[i] = entry.storedBytes;
    this.chunkCounts[i] = entry.chunkCount;
    this.fileNumbers[i] = entry.fileNumber;
    this.lastChunkBytes[i] = entry.lastChunkBytes;
    this.kinds[i] = (entry.kind === 'tapemark' ? KIND_TAPEMARK : 0) | COMPRESSIONS.indexOf(entry.compression);
    this.count += 1;
  }

  /** Drops the spare capacity once the walk is over. */
  trim(): void {
    this.grow(this.count);
  }

  row(i: number): TapeIndexEntry {
    const offsetBytes = this.offsets[i] as number;
    const storedBytes = this.storedBytes[i] as number;
    const chunkCount = this.chunkCounts[i] as number;
    const kind = this.kinds[i] as number;
    return {
      kind: (kind & KIND_TAPEMARK) !== 0 ? 'tapemark' : 'block',
      blockNumber: i,
      offsetBytes,
      // Every chunk is a header and its data, and the chunks of an entry are contiguous.
      endOffsetBytes: offsetBytes + chunkCount * AWS_HEADER_BYTES + storedBytes,
      storedBytes,
      chunkCount,
      compression: COMPRESSIONS[kind & ~KIND_TAPEMARK] as BlockCompression,
      fileNumber: this.fileNumbers[i] as number,
      lastChunkBytes: this.lastChunkBytes[i] as number,
    };
  }

  private grow(capacity: number): void {
    const size = Math.max(capacity, 1);
    const copy = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(column: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(column.subarray(0, this.count));
      return next;
    };
    this.offsets = copy(this.offsets, (n) => new Float64Array(n));
    this.storedBytes = copy(this.storedBytes, (n) => new Uint32Array(n));
    this.chunkCounts = copy(this.chunkCounts, (n) => new Uint32Array(n));
    this.fileNumbers = copy(this.fileNumbers, (n) => new Uint32Array(n));
    this.lastChunkBytes = copy(this.lastChunkBytes, (n) => new Uint16Array(n));
    this.kinds = copy(this.kinds, (n) => new Uint8Array(n));
  }
}

/** The validated index of a tape: its entries by block number, made on demand from the columns. */
export class TapeIndex {
  constructor(
    readonly path: string,
    readonly sizeBytes: number,
    private readonly columns: EntryColumns,
    readonly tapemarkCount: number,
  ) {}

  get entryCount(): number {
    return this.columns.count;
  }

  /** Entry `blockNumber` (0..entryCount-1), or undefined past the end. */
  entryAt(blockNumber: number): TapeIndexEntry | undefined {
    return Number.isInteger(blockNumber) && blockNumber >= 0 && blockNumber < this.columns.count ? this.columns.row(blockNumber) : undefined;
  }

  /** Every entry from the load point, one object at a time. */
  *entries(): IterableIterator<TapeIndexEntry> {
    for (let i = 0; i < this.columns.count; i++) yield this.columns.row(i);
  }
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

/** Bytes read at once when the chunk headers are close together. */
const HEADER_WINDOW_BYTES = 64 * 1024;
/** After a chunk longer than this, only the next header is read: a window would hold little else. */
const SMALL_CHUNK_BYTES = 4096;

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

class IndexBuilder {
  private readonly entries = new EntryColumns();
  private fileNumber = 1;
  private tapemarkCount = 0;
  private open: OpenBlock | undefined;

  constructor(private readonly path: string) {}

  fail(offsetBytes: number, state: string): never {
    const blockNumber = this.entries.count;
    throw new TapeFormatError(`Cannot read tape ${this.path}: block ${blockNumber} at byte offset ${offsetBytes} ${state}`, {
      path: this.path,
      blockNumber,
      offsetBytes,
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
      if (flags1 !== FLAG1_TAPEMARK || curlenBytes !== 0)
        this.fail(at, `has bad flags1 ${hex(flags1)} with length ${curlenBytes} (a tapemark is 0x40 with length 0)`);
      if (this.open !== undefined) this.fail(at, `is cut short by a tapemark at ${offsetBytes} before its end-of-record chunk`);
      this.entries.push({ kind: 'tapemark', offsetBytes, storedBytes: 0, chunkCount: 1, compression: 'none', fileNumber: this.fileNumber, lastChunkBytes: 0 });
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
    if (curlenBytes > remainingBytes)
      this.fail(at, `is truncated: the chunk header at ${offsetBytes} says ${curlenBytes} data bytes but ${remainingBytes} remain in the file`);
    const open = this.open ?? { offsetBytes, storedBytes: 0, chunkCount: 0, compression };
    open.storedBytes += curlenBytes;
    open.chunkCount += 1;
    if (compression === 'none' && open.storedBytes > MAX_BLOCK_BYTES) this.fail(at, `is longer than ${MAX_BLOCK_BYTES} bytes`);
    this.open = open;
    if ((flags1 & FLAG1_END_OF_RECORD) !== 0) {
      this.open = undefined;
      this.entries.push({
        kind: 'block',
        offsetBytes: open.offsetBytes,
        storedBytes: open.storedBytes,
        chunkCount: open.chunkCount,
        compression,
        fileNumber: this.fileNumber,
        lastChunkBytes: curlenBytes,
      });
    }
  }

  finish(fileSizeBytes: number): TapeIndex {
    if (this.open !== undefined) this.fail(this.open.offsetBytes, 'is truncated: the file ends before its end-of-record chunk');
    if (this.entries.count === 0) this.fail(0, 'is missing: the file is empty (no closing tapemark)');
    const last = this.entries.row(this.entries.count - 1);
    if (last.kind !== 'tapemark') {
      this.fail(fileSizeBytes, `is missing: the file ends after block ${last.blockNumber} at byte offset ${last.offsetBytes} without a closing tapemark`);
    }
    this.entries.trim();
    return new TapeIndex(this.path, fileSizeBytes, this.entries, this.tapemarkCount);
  }
}

/**
 * Reads chunk headers through a window: a pread per window, not per header, when the blocks are
 * small; after a large block, the next header alone (a window would read the whole tape's data).
 */
class HeaderWindow {
  private readonly window = Buffer.alloc(HEADER_WINDOW_BYTES);
  private startBytes = 0;
  private filledBytes = 0;

  constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly baseOffsetBytes: number,
    private readonly fileSizeBytes: number,
  ) {}

  /**
   * The header at tape offset `offsetBytes` (the caller checked that it lies inside the file), or
   * undefined when fewer bytes could be read (the file shrank while open).
   */
  header(offsetBytes: number, previousChunkBytes: number): AwsBlockHeader | undefined {
    const inWindow = offsetBytes >= this.startBytes && offsetBytes + AWS_HEADER_BYTES <= this.startBytes + this.filledBytes;
    if (!inWindow) {
      const wanted = previousChunkBytes > SMALL_CHUNK_BYTES ? AWS_HEADER_BYTES : HEADER_WINDOW_BYTES;
      const length = Math.min(wanted, this.fileSizeBytes - offsetBytes);
      this.filledBytes = readAtMost(this.fd, this.window.subarray(0, length), this.baseOffsetBytes + offsetBytes, this.path, 'the chunk header');
      this.startBytes = offsetBytes;
      if (this.filledBytes < AWS_HEADER_BYTES) return undefined;
    }
    const at = offsetBytes - this.startBytes;
    return decodeAwsBlockHeader(this.window.subarray(at, at + AWS_HEADER_BYTES));
  }
}

/**
 * Walks every chunk header of an open tape and returns the validated index. Offsets in the index
 * are tape offsets; `baseOffsetBytes` is where the tape starts in the file (tape-region.ts).
 */
export function buildTapeIndex(fd: number, fileSizeBytes: number, path: string, baseOffsetBytes = 0): TapeIndex {
  const builder: IndexBuilder = new IndexBuilder(path);
  const headers = new HeaderWindow(fd, path, baseOffsetBytes, fileSizeBytes);
  let offsetBytes = 0;
  let previousChunkBytes = 0;
  // Bounded: every pass advances offsetBytes by at least one header.
  while (offsetBytes < fileSizeBytes) {
    const remainingBytes = fileSizeBytes - offsetBytes;
    if (remainingBytes < AWS_HEADER_BYTES) {
      builder.fail(offsetBytes, `is truncated: only ${remainingBytes} of the ${AWS_HEADER_BYTES} header bytes remain in the file`);
    }
    const header = headers.header(offsetBytes, previousChunkBytes);
    if (header === undefined) builder.fail(offsetBytes, `is truncated: the file shrank while open, at the chunk header at ${offsetBytes}`);
    builder.addChunk(offsetBytes, header, previousChunkBytes, fileSizeBytes);
    previousChunkBytes = header.curlenBytes;
    offsetBytes += AWS_HEADER_BYTES + header.curlenBytes;
  }
  return builder.finish(fileSizeBytes);
}

/**
 * One entry of a tape index as plain data, for an index kept apart from its tape (a vault
 * manifest): stored data bytes, chunk count, kind code (0 none, 1 zlib, 2 bzip2, 128 tapemark) and
 * the curlen of the last chunk. Offsets and file numbers follow from the order: entries are
 * contiguous from the load point and a tapemark closes its file.
 */
export type TapeIndexRow = readonly [storedBytes: number, chunkCount: number, kindCode: number, lastChunkBytes: number];

/** The rows of an index, in block order (the inverse of tapeIndexFromRows). */
export function tapeIndexRows(index: TapeIndex): TapeIndexRow[] {
  const rows: TapeIndexRow[] = [];
  for (const entry of index.entries()) {
    const kindCode = entry.kind === 'tapemark' ? KIND_TAPEMARK : COMPRESSIONS.indexOf(entry.compression);
    rows.push([entry.storedBytes, entry.chunkCount, kindCode, entry.lastChunkBytes]);
  }
  return rows;
}

/**
 * Rebuilds an index from rows kept apart from the tape, checking them as the header walk checks a
 * tape: every row well formed, the entries filling exactly `sizeBytes`, and a closing tapemark. The
 * rows may come from an untrusted store, so a bad one is a TapeFormatError, never a wrong read.
 */
export function tapeIndexFromRows(path: string, sizeBytes: number, rows: readonly TapeIndexRow[]): TapeIndex {
  const columns = new EntryColumns();
  let offsetBytes = 0;
  let fileNumber = 1;
  let tapemarkCount = 0;
  const fail = (i: number, state: string): never => {
    throw new TapeFormatError(`Cannot use the index of tape ${path}: entry ${i} ${state}`, { path, blockNumber: i, offsetBytes });
  };
  rows.forEach((row, i) => {
    const [storedBytes, chunkCount, kindCode, lastChunkBytes] = row;
    if (![storedBytes, chunkCount, kindCode, lastChunkBytes].every((n) => Number.isSafeInteger(n) && n >= 0)) fail(i, 'is not four counts');
    if (kindCode === KIND_TAPEMARK) {
      if (storedBytes !== 0 || chunkCount !== 1 || lastChunkBytes !== 0) fail(i, 'is a tapemark with data');
      columns.push({ kind: 'tapemark', offsetBytes, storedBytes: 0, chunkCount: 1, compression: 'none', fileNumber, lastChunkBytes: 0 });
      offsetBytes += AWS_HEADER_BYTES;
      tapemarkCount += 1;
      fileNumber += 1;
      return;
    }
    const compression = COMPRESSIONS[kindCode];
    if (compression === undefined) fail(i, `has an unknown kind ${kindCode}`);
    if (chunkCount < 1 || storedBytes < chunkCount || lastChunkBytes < 1 || lastChunkBytes > storedBytes || lastChunkBytes > 0xffff) {
      fail(i, `has ${storedBytes} bytes in ${chunkCount} chunks (last ${lastChunkBytes})`);
    }
    if (compression === 'none' && storedBytes > MAX_BLOCK_BYTES) fail(i, `is longer than ${MAX_BLOCK_BYTES} bytes`);
    columns.push({ kind: 'block', offsetBytes, storedBytes, chunkCount, compression: compression as BlockCompression, fileNumber, lastChunkBytes });
    offsetBytes += chunkCount * AWS_HEADER_BYTES + storedBytes;
    if (offsetBytes > sizeBytes) fail(i, `runs past the tape's ${sizeBytes} bytes`);
  });
  if (offsetBytes !== sizeBytes) fail(rows.length, `is missing: the entries fill ${offsetBytes} of the tape's ${sizeBytes} bytes`);
  if (rows.length === 0 || rows[rows.length - 1]?.[2] !== KIND_TAPEMARK) fail(rows.length, 'is missing: the index has no closing tapemark');
  columns.trim();
  return new TapeIndex(path, sizeBytes, columns, tapemarkCount);
}
