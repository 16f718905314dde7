/**
 * Where a tape lives: a whole file (a `.aws` tape), or a region of another file starting at a byte
 * offset — a tape written onto an FBA volume from block N0 (ARCHITECTURE.md, tape layout). Every
 * tape offset in a plan or an index is relative to the region's start; only the system calls add
 * `baseOffsetBytes`.
 *
 * On an FBA volume the tape byte LU lies in block N = floor(LU / B) + N0 at offset O = LU mod B.
 */
import { assertInteger } from '../base/assert.js';
import { readAtMost } from '../base/file-io.js';
import { TapeFormatError } from '../errors/snaptape-error.js';
import { AWS_HEADER_BYTES, decodeAwsBlockHeader, FLAG1_TAPEMARK } from './aws-block-header.js';

export interface TapeRegion {
  /** Byte offset of the tape's load point in the file. */
  readonly baseOffsetBytes: number;
  /** Bytes of the tape; undefined: up to the end of the file. */
  readonly lengthBytes?: number;
}

export const WHOLE_FILE: TapeRegion = { baseOffsetBytes: 0 };

export interface FbaPosition {
  readonly block: number;
  readonly offsetInBlock: number;
}

/** Block N and offset O of tape byte `tapeOffsetBytes` on an FBA volume, the tape starting at block N0. */
export function fbaPositionOf(tapeOffsetBytes: number, options: { startBlock: number; blockBytes: number }): FbaPosition {
  assertInteger(tapeOffsetBytes, 'tape offset');
  assertInteger(options.startBlock, 'start block');
  return { block: Math.floor(tapeOffsetBytes / options.blockBytes) + options.startBlock, offsetInBlock: tapeOffsetBytes % options.blockBytes };
}

/** The region of a tape written onto an FBA volume from block N0. */
export function fbaTapeRegion(startBlock: number, blockBytes: number, lengthBytes?: number): TapeRegion {
  return { baseOffsetBytes: startBlock * blockBytes, ...(lengthBytes !== undefined ? { lengthBytes } : {}) };
}

/** Tape chunks walked at most while measuring a region: bounds the walk on garbage input. */
const MAX_MEASURED_CHUNKS = 50_000_000;

/**
 * Length of a tape stored inside a larger file, found by walking its chunk headers from the load
 * point up to the double tapemark that ends the volume (a tape on an FBA volume is followed by
 * whatever else the volume holds). A walk that leaves `limitBytes` first is a TapeFormatError.
 */
export function measureTapeRegion(fd: number, path: string, baseOffsetBytes: number, limitBytes: number): number {
  const header = Buffer.alloc(AWS_HEADER_BYTES);
  let offset = 0;
  let previousWasTapemark = false;
  let sawData = false;
  for (let chunk = 0; chunk < MAX_MEASURED_CHUNKS; chunk++) {
    if (offset + AWS_HEADER_BYTES > limitBytes) break;
    // A file shorter than the limit ends the search like the limit does.
    if (readAtMost(fd, header, baseOffsetBytes + offset, path, 'the chunk header') < AWS_HEADER_BYTES) break;
    const decoded = decodeAwsBlockHeader(header);
    const tapemark = (decoded.flags1 & FLAG1_TAPEMARK) !== 0;
    offset += AWS_HEADER_BYTES + decoded.curlenBytes;
    if (tapemark && previousWasTapemark && sawData) return offset;
    if (!tapemark) sawData = true;
    previousWasTapemark = tapemark;
  }
  throw new TapeFormatError(`Cannot find the end of the tape in ${path} from byte ${baseOffsetBytes}: no double tapemark within ${limitBytes} bytes`, {
    path,
    offsetBytes: baseOffsetBytes + offset,
  });
}
