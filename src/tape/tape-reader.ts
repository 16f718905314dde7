/**
 * Reads an AWSTAPE or HET tape file like a tape drive: read the next block, space forward and
 * backward by blocks and files, rewind, and seek straight to block N through the index built on
 * open (tape-index.ts).
 *
 * Invariants:
 * - the file is opened read-only ('r') and is never written;
 * - `position` is the block number of the next entry `read` returns, in 0..entries.length;
 * - segmented blocks are returned whole, HET blocks decompressed (het-decompress.ts).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { openRegularFile, readFully } from '../base/file-io.js';
import { assert, assertInteger } from '../base/assert.js';
import { translateIoError } from '../errors/io-error.js';
import { TapeFormatError } from '../errors/snaptape-error.js';
import { AWS_HEADER_BYTES, decodeAwsBlockHeader } from './aws-block-header.js';
import { decompressBlock } from './het-decompress.js';
import { buildTapeIndex, type TapeIndex, type TapeIndexEntry } from './tape-index.js';
import { checkTapeNotBeingWritten } from './tape-lock.js';
import { measureTapeRegion, WHOLE_FILE, type TapeRegion } from './tape-region.js';

/** Bytes read at once by forEachBlockData: large sequential reads, one buffer per reader. */
export const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Where forEachBlockData reads its windows, when not into the reader's own buffer: a caller that
 * hands the blocks to another thread (a background hash) gives buffers it can share, and may block
 * in `take` until that thread is done with one.
 */
export interface ReadWindows {
  /** A buffer of at least `bytes` bytes to read the next window into. */
  take(bytes: number): Buffer;
}

export type TapeReadResult =
  | { readonly kind: 'block'; readonly entry: TapeIndexEntry; readonly data: Buffer }
  | { readonly kind: 'tapemark'; readonly entry: TapeIndexEntry }
  | { readonly kind: 'end' };

/** What a space operation passed over: a block, a tapemark, or nothing (at an end of the tape). */
export type SpaceResult = 'block' | 'tapemark' | 'end' | 'load-point';

export class TapeReader {
  // Set once.
  readonly path: string;
  readonly index: TapeIndex;
  private readonly fd: number;
  private readonly baseOffsetBytes: number;
  // Main thread only.
  private positionBlockNumber = 0;
  private closed = false;
  /** forEachBlockData's read buffer, made on first use and kept. */
  private window: Buffer = Buffer.alloc(0);

  private constructor(path: string, fd: number, index: TapeIndex, baseOffsetBytes: number) {
    this.path = path;
    this.fd = fd;
    this.index = index;
    this.baseOffsetBytes = baseOffsetBytes;
  }

  /**
   * Opens a tape read-only and indexes it; a broken structure is a TapeFormatError. `region`: a tape
   * stored inside another file (an FBA volume); without a length, it ends at its double tapemark.
   * A tape file that another process is writing is refused (LockedError): it is incomplete.
   */
  static open(path: string, region: TapeRegion = WHOLE_FILE): TapeReader {
    if (region === WHOLE_FILE) checkTapeNotBeingWritten(path);
    // A FIFO or a device at the path is refused here, not read (a FIFO would hang the open).
    const { fd, sizeBytes: fileBytes } = openRegularFile(path, 'the tape');
    try {
      const base = region.baseOffsetBytes;
      const available = Math.max(0, fileBytes - base);
      const length = region === WHOLE_FILE ? fileBytes : (region.lengthBytes ?? measureTapeRegion(fd, path, base, available));
      const index = buildTapeIndex(fd, Math.min(length, available), path, base);
      return new TapeReader(path, fd, index, base);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /**
   * Opens a tape file read-only with an index made apart from it (tapeIndexFromRows), without the
   * header walk: for a cartridge whose bytes are only partly present (a vaulted cartridge fetched
   * by ranges), where only the blocks the caller reads were filled in; or for a tape whose headers
   * are checked at their planned offsets instead of walked (a backup's finish: tape-verify.ts).
   * `baseOffsetBytes`: where the tape starts in the file (a tape on an FBA volume).
   */
  static openIndexed(path: string, index: TapeIndex, baseOffsetBytes = 0): TapeReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (cause) {
      throw translateIoError(cause, 'open tape', path);
    }
    const fileBytes = fstatSync(fd).size;
    if (fileBytes - baseOffsetBytes < index.sizeBytes) {
      closeSync(fd);
      throw new TapeFormatError(`Cannot read tape ${path}: the file holds ${fileBytes - baseOffsetBytes} bytes but its index spans ${index.sizeBytes}`, {
        path,
      });
    }
    return new TapeReader(path, fd, index, baseOffsetBytes);
  }

  get position(): number {
    return this.positionBlockNumber;
  }

  get entryCount(): number {
    return this.index.entryCount;
  }

  entry(blockNumber: number): TapeIndexEntry {
    const found = this.index.entryAt(blockNumber);
    assert(found !== undefined, `block ${blockNumber} is on the tape (0..${this.entryCount - 1})`);
    return found;
  }

  /** Reads the data of block `blockNumber` without moving the position. */
  readBlockData(blockNumber: number): Buffer {
    assert(!this.closed, 'the reader is open');
    const entry = this.entry(blockNumber);
    assert(entry.kind === 'block', `block ${blockNumber} is a data block, not a tapemark`);
    const raw = Buffer.alloc(entry.endOffsetBytes - entry.offsetBytes);
    readFully(
      this.fd,
      raw,
      this.baseOffsetBytes + entry.offsetBytes,
      this.path,
      `block ${blockNumber}`,
      () =>
        new TapeFormatError(`Cannot read block ${blockNumber} at byte offset ${entry.offsetBytes} of ${this.path}: the file shrank while open`, {
          path: this.path,
          blockNumber,
          offsetBytes: entry.offsetBytes,
        }),
    );
    const stored = joinChunks(raw, entry);
    return decompressBlock(stored, entry.compression, { path: this.path, blockNumber, offsetBytes: entry.offsetBytes });
  }

  /**
   * Visits the data of blocks `first`..`first + count - 1` in order, reading the tape sequentially
   * in windows of up to WINDOW_BYTES into one buffer kept by the reader: a pread per window, not
   * per block, and no allocation for a plain single-chunk block, whose data is a view into the
   * window. The view is valid only during `visit`: a caller that keeps a block copies it. With
   * `windows`, each window is read into the buffer it gives instead.
   */
  forEachBlockData(first: number, count: number, visit: (data: Buffer, blockNumber: number) => void, windows?: ReadWindows): void {
    assert(!this.closed, 'the reader is open');
    let next = first;
    const end = first + count;
    // Bounded: every pass visits at least one block.
    while (next < end) {
      const start = this.entry(next);
      let last = next;
      while (last + 1 < end && this.entry(last + 1).endOffsetBytes - start.offsetBytes <= WINDOW_BYTES) last++;
      const spanBytes = this.entry(last).endOffsetBytes - start.offsetBytes;
      if (!windows && this.window.length < spanBytes) this.window = Buffer.allocUnsafe(Math.max(spanBytes, WINDOW_BYTES));
      const window = (windows ? windows.take(spanBytes) : this.window).subarray(0, spanBytes);
      readFully(this.fd, window, this.baseOffsetBytes + start.offsetBytes, this.path, `blocks ${next}-${last}`, () => this.shrank(next, start.offsetBytes));
      for (let b = next; b <= last; b++) {
        const entry = this.entry(b);
        assert(entry.kind === 'block', `block ${b} is a data block, not a tapemark`);
        const raw = window.subarray(entry.offsetBytes - start.offsetBytes, entry.endOffsetBytes - start.offsetBytes);
        const stored = joinChunks(raw, entry);
        visit(
          entry.compression === 'none'
            ? stored
            : decompressBlock(stored, entry.compression, { path: this.path, blockNumber: b, offsetBytes: entry.offsetBytes }),
          b,
        );
      }
      next = last + 1;
    }
  }

  private shrank(blockNumber: number, offsetBytes: number): TapeFormatError {
    return new TapeFormatError(`Cannot read block ${blockNumber} at byte offset ${offsetBytes} of ${this.path}: the file shrank while open`, {
      path: this.path,
      blockNumber,
      offsetBytes,
    });
  }

  /** Reads the next block or tapemark and moves past it. */
  read(): TapeReadResult {
    if (this.positionBlockNumber >= this.entryCount) return { kind: 'end' };
    const entry = this.entry(this.positionBlockNumber);
    const result: TapeReadResult =
      entry.kind === 'tapemark' ? { kind: 'tapemark', entry } : { kind: 'block', entry, data: this.readBlockData(entry.blockNumber) };
    this.positionBlockNumber += 1;
    return result;
  }

  /** Moves past one block; a tapemark is passed over too, and reported. */
  forwardSpaceBlock(): SpaceResult {
    if (this.positionBlockNumber >= this.entryCount) return 'end';
    const kind = this.entry(this.positionBlockNumber).kind;
    this.positionBlockNumber += 1;
    return kind;
  }

  /** Moves back over one block or tapemark. */
  backSpaceBlock(): SpaceResult {
    if (this.positionBlockNumber === 0) return 'load-point';
    this.positionBlockNumber -= 1;
    return this.entry(this.positionBlockNumber).kind;
  }

  /** Moves forward past the next tapemark (to the start of the next file). */
  forwardSpaceFile(): SpaceResult {
    // Bounded by the number of entries.
    while (this.positionBlockNumber < this.entryCount) {
      const kind = this.entry(this.positionBlockNumber).kind;
      this.positionBlockNumber += 1;
      if (kind === 'tapemark') return 'tapemark';
    }
    return 'end';
  }

  /** Moves backward over the previous tapemark; the position is then just before it. */
  backSpaceFile(): SpaceResult {
    while (this.positionBlockNumber > 0) {
      this.positionBlockNumber -= 1;
      if (this.entry(this.positionBlockNumber).kind === 'tapemark') return 'tapemark';
    }
    return 'load-point';
  }

  rewind(): void {
    this.positionBlockNumber = 0;
  }

  /** Positions before block `blockNumber` (entryCount = at the end of the tape). */
  seekBlock(blockNumber: number): void {
    assertInteger(blockNumber, 'blockNumber', 0, this.entryCount);
    this.positionBlockNumber = blockNumber;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** Strips the chunk headers of a (possibly segmented) block, as indexed. */
function joinChunks(raw: Buffer, entry: TapeIndexEntry): Buffer {
  if (entry.chunkCount === 1) return raw.subarray(AWS_HEADER_BYTES);
  const parts: Buffer[] = [];
  let at = 0;
  for (let chunk = 0; chunk < entry.chunkCount; chunk++) {
    const header = decodeAwsBlockHeader(raw.subarray(at, at + AWS_HEADER_BYTES));
    parts.push(raw.subarray(at + AWS_HEADER_BYTES, at + AWS_HEADER_BYTES + header.curlenBytes));
    at += AWS_HEADER_BYTES + header.curlenBytes;
  }
  assert(at === raw.length, `chunks of block ${entry.blockNumber} fill its indexed extent`);
  return Buffer.concat(parts);
}
