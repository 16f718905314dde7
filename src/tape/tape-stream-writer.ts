/**
 * Writes a tape sequentially from a starting position: blocks and tapemarks one after the other,
 * each header's prvlen taken from the chunk before it. Used by `tape put` (appending a data set)
 * and, as the simple shadow model, by the tests of the mapped writer.
 *
 * Invariants: output is buffered up to STREAM_BUFFER_BYTES and written with positioned writes at
 * consecutive offsets, so `offsetBytes` is always where the next entry goes; every block is one
 * chunk (flags1 0xA0), as Hercules writes them.
 */
import { writeFully } from '../base/file-io.js';
import { assert } from '../base/assert.js';
import { blockHeaderBytes, tapemarkHeaderBytes } from './aws-block-header.js';
import { encodeUserLabel } from './standard-labels.js';
import type { FileLabels } from './tape-file-spec.js';

/** Buffered bytes before a write: 1 MiB batches tens of blocks into one system call (system calls, not bytes, decide throughput). */
export const STREAM_BUFFER_BYTES = 1 << 20;

export class TapeStreamWriter {
  // Set once.
  private readonly fd: number;
  private readonly path: string;
  // Main thread only.
  private flushedOffsetBytes: number;
  private previousChunkBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(fd: number, path: string, start: { readonly offsetBytes: number; readonly previousChunkBytes: number }) {
    this.fd = fd;
    this.path = path;
    this.flushedOffsetBytes = start.offsetBytes;
    this.previousChunkBytes = start.previousChunkBytes;
  }

  /** Where the next block or tapemark goes. */
  get offsetBytes(): number {
    return this.flushedOffsetBytes + this.pendingBytes;
  }

  writeBlock(data: Uint8Array): void {
    this.push(blockHeaderBytes({ lengthBytes: data.length, previousChunkBytes: this.previousChunkBytes }));
    this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
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
