/**
 * Writes a tape sequentially from a starting position: blocks and tapemarks one after the other,
 * each header's prvlen taken from the chunk before it. Used by `tape put` (appending a data set)
 * and, as the simple shadow model, by the tests of the mapped writer.
 *
 * Invariants: output is buffered up to STREAM_BUFFER_BYTES and written with positioned writes at
 * consecutive offsets, so `offsetBytes` is always where the next entry goes; every block is one
 * chunk (flags1 0xA0), as Hercules writes them.
 *
 * With `zeroBlocksAsHoles`, for a new file only (where a byte never written reads as zero), a
 * block whose data is all zeros gets its header written and its data skipped: a hole, which reads
 * back the same. A join of partly fetched cartridges (a vaulted set read in place, whose blocks not
 * fetched are holes) then stays as sparse as they are, instead of writing their whole size. A tape
 * ends with a tapemark, so a hole is never the file's end.
 */
import { writeFully } from '../base/file-io.js';
import { assert } from '../base/assert.js';
import { blockHeaderBytes, tapemarkHeaderBytes } from './aws-block-header.js';
import { encodeUserLabel } from './standard-labels.js';
import type { FileLabels } from './tape-file-spec.js';

/** Buffered bytes before a write: 1 MiB batches tens of blocks into one system call (system calls, not bytes, decide throughput). */
export const STREAM_BUFFER_BYTES = 1 << 20;

/** Zeros to compare a block with (a block is at most 64 KiB; a longer run is compared in steps). */
const ZEROS = Buffer.alloc(64 * 1024);

function isAllZero(bytes: Buffer): boolean {
  // Bounded: each step compares one more slice of at most ZEROS.length bytes.
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const end = Math.min(bytes.length, at + ZEROS.length);
    if (!bytes.subarray(at, end).equals(ZEROS.subarray(0, end - at))) return false;
  }
  return true;
}

export class TapeStreamWriter {
  // Set once.
  private readonly fd: number;
  private readonly path: string;
  // Main thread only.
  private flushedOffsetBytes: number;
  private previousChunkBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly zeroBlocksAsHoles: boolean;

  constructor(
    fd: number,
    path: string,
    start: { readonly offsetBytes: number; readonly previousChunkBytes: number },
    options: { readonly zeroBlocksAsHoles?: boolean } = {},
  ) {
    this.fd = fd;
    this.path = path;
    this.zeroBlocksAsHoles = options.zeroBlocksAsHoles ?? false;
    this.flushedOffsetBytes = start.offsetBytes;
    this.previousChunkBytes = start.previousChunkBytes;
  }

  /** Where the next block or tapemark goes. */
  get offsetBytes(): number {
    return this.flushedOffsetBytes + this.pendingBytes;
  }

  writeBlock(data: Uint8Array): void {
    this.push(blockHeaderBytes({ lengthBytes: data.length, previousChunkBytes: this.previousChunkBytes }));
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (this.zeroBlocksAsHoles && isAllZero(bytes)) {
      this.flush();
      this.flushedOffsetBytes += bytes.length;
    } else {
      this.push(bytes);
    }
    this.previousChunkBytes = data.length;
  }

  writeTapemark(): void {
    this.push(tapemarkHeaderBytes(this.previousChunkBytes));
    this.previousChunkBytes = 0;
  }

  flush(): void {
    if (this.pendingBytes === 0) return;
    const joined = Buffer.concat(this.pending, this.pendingBytes);
    writeFully(this.fd, joined, this.flushedOffsetBytes, this.path, 'the tape');
    this.flushedOffsetBytes += joined.length;
    this.pending = [];
    this.pendingBytes = 0;
  }

  private push(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= STREAM_BUFFER_BYTES) this.flush();
  }
}

/** The pieces of one labelled data set for the stream writer. */
export interface LabelledFileContent {
  readonly labels: FileLabels;
  readonly userHeaderLabels?: readonly Uint8Array[];
  readonly userTrailerLabels?: readonly Uint8Array[];
  readonly dataBlocks: Iterable<Uint8Array>;
}

/** HDR1 HDR2 UHL* TM data… TM EOF1 EOF2 UTL* TM; returns the data blocks written. */
export function writeLabelledFile(writer: TapeStreamWriter, content: LabelledFileContent): number {
  writer.writeBlock(content.labels.header1);
  writer.writeBlock(content.labels.header2);
  (content.userHeaderLabels ?? []).forEach((userData, i) => writer.writeBlock(encodeUserLabel({ labelId: 'UHL', number: i + 1, userData })));
  writer.writeTapemark();
  let blockCount = 0;
  for (const block of content.dataBlocks) {
    assert(block.length > 0, 'a data block is not empty');
    writer.writeBlock(block);
    blockCount += 1;
  }
  writer.writeTapemark();
  writer.writeBlock(content.labels.trailer1);
  writer.writeBlock(content.labels.trailer2);
  (content.userTrailerLabels ?? []).forEach((userData, i) => writer.writeBlock(encodeUserLabel({ labelId: 'UTL', number: i + 1, userData })));
  writer.writeTapemark();
  return blockCount;
}
