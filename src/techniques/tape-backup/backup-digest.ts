/**
 * SHA-256 of each element, computed from the finished tape by reading every element's data blocks
 * sequentially (the same pass that proves the tape reads from start to end). Reads are batched
 * into large sequential reads; the payloads are hashed, the 6-byte headers skipped.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readFully } from '../../base/file-io.js';
import { translateIoError } from '../../errors/io-error.js';
import { AWS_HEADER_BYTES } from '../../tape/aws-block-header.js';
import type { TapePlan } from '../../tape/tape-plan.js';

/** Bytes read per call while hashing: large sequential reads, bounded memory. */
const HASH_READ_BYTES = 8 * 1024 * 1024;

/** `baseOffsetBytes`: where the tape starts in the file (a tape on an FBA volume). */
export function digestPlannedFiles(tapePath: string, plan: TapePlan, baseOffsetBytes = 0): string[] {
  let fd: number;
  try {
    fd = openSync(tapePath, 'r');
  } catch (error) {
    throw translateIoError(error, 'open the tape to hash it', tapePath);
  }
  try {
    return plan.files.map((file) => {
      const hash = createHash('sha256');
      const lengths = file.spec.dataBlockLengths;
      if (lengths.length === 0) return hash.digest('hex');
      const start = file.dataOffsetsBytes[0] as number;
      const end = file.dataTapemark.offsetBytes;
      const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_BYTES, end - start));
      let bufferStart = start;
      let bufferEnd = start;
      const ensure = (from: number, to: number): void => {
        if (from >= bufferStart && to <= bufferEnd) return;
        const length = Math.min(buffer.length, end - from);
        readFully(fd, buffer.subarray(0, length), baseOffsetBytes + from, tapePath, 'the tape');
        bufferStart = from;
        bufferEnd = from + length;
      };
      lengths.forEach((length, j) => {
        const payloadAt = (file.dataOffsetsBytes[j] as number) + AWS_HEADER_BYTES;
        let at = payloadAt;
        while (at < payloadAt + length) {
          const take = Math.min(payloadAt + length - at, buffer.length);
          ensure(at, at + take);
          hash.update(buffer.subarray(at - bufferStart, at - bufferStart + take));
          at += take;
        }
      });
      return hash.digest('hex');
    });
  } finally {
    closeSync(fd);
  }
}

/**
 * SHA-256 of a whole tape: `lengthBytes` from `baseOffsetBytes` (the file's size when omitted). An
 * incremental tape names its base by it (the base tape's labels and data alike).
 */
export function digestWholeTape(tapePath: string, baseOffsetBytes = 0, lengthBytes?: number): string {
  let fd: number;
  try {
    fd = openSync(tapePath, 'r');
  } catch (error) {
    throw translateIoError(error, 'open the tape to hash it', tapePath);
  }
  try {
    const end = baseOffsetBytes + (lengthBytes ?? fstatSync(fd).size - baseOffsetBytes);
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_BYTES, Math.max(1, end - baseOffsetBytes)));
    for (let at = baseOffsetBytes; at < end;) {
      const take = Math.min(buffer.length, end - at);
      readFully(fd, buffer.subarray(0, take), at, tapePath, 'the tape');
      hash.update(buffer.subarray(0, take));
      at += take;
    }
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}
