/**
 * Records and blocks of a data set on tape: ASCII text lines to blank-padded EBCDIC fixed records
 * (as `dasdload TEXT` does, native-layout/ebcdic.md), records grouped into blocks by RECFM, and back.
 *
 * Invariants: an F block holds one record; an FB block holds up to floor(blksize / lrecl) records,
 * the last block may be short but is still whole records; a U block is up to blksize bytes.
 */
import { assert } from '../base/assert.js';
import { decodeEbcdic, encodeEbcdicPadded } from '../base/ebcdic.js';
import { UsageError } from '../errors/snaptape-error.js';
import type { RecordFormat } from './tape-file-spec.js';

export interface BlockingOptions {
  readonly recordFormat: RecordFormat;
  readonly recordLengthBytes: number;
  readonly blockSizeBytes: number;
}

/** Text lines (LF or CRLF) as EBCDIC records of `recordLengthBytes`, blank padded. */
export function textToFixedRecords(text: string, recordLengthBytes: number, sourceName: string): Buffer {
  assert(recordLengthBytes > 0, 'text records have a length');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const records = lines.map((rawLine, i) => {
    const line = rawLine.replace(/\r$/, '');
    if (line.length > recordLengthBytes) {
      throw new UsageError(`Cannot convert ${sourceName} to records: line ${i + 1} has ${line.length} characters, more than LRECL ${recordLengthBytes}`, {
        path: sourceName,
        line: i + 1,
      });
    }
    return encodeEbcdicPadded(line, recordLengthBytes);
  });
  return Buffer.concat(records);
}

/** Splits data into blocks; fixed records are padded with zeros to a whole last record. */
export function blockData(data: Buffer, options: BlockingOptions): { readonly blocks: Buffer[]; readonly paddingBytes: number } {
  const fixed = options.recordFormat === 'F' || options.recordFormat === 'FB';
  let padded = data;
  let paddingBytes = 0;
  if (fixed && data.length % options.recordLengthBytes !== 0) {
    paddingBytes = options.recordLengthBytes - (data.length % options.recordLengthBytes);
    padded = Buffer.concat([data, Buffer.alloc(paddingBytes)]);
  }
  const blockBytes = !fixed
    ? options.blockSizeBytes
    : options.recordFormat === 'F'
      ? options.recordLengthBytes
      : Math.floor(options.blockSizeBytes / options.recordLengthBytes) * options.recordLengthBytes;
  assert(blockBytes > 0, 'a block holds at least one byte');
  const blocks: Buffer[] = [];
  for (let at = 0; at < padded.length; at += blockBytes) blocks.push(padded.subarray(at, Math.min(at + blockBytes, padded.length)));
  return { blocks, paddingBytes };
}

/** EBCDIC fixed records back to text lines (trailing blanks removed), one per record. */
export function fixedRecordsToText(data: Buffer, recordLengthBytes: number): string {
  assert(recordLengthBytes > 0, 'text records have a length');
  const lines: string[] = [];
  for (let at = 0; at < data.length; at += recordLengthBytes) {
    lines.push(decodeEbcdic(data.subarray(at, at + recordLengthBytes)).replace(/ +$/, ''));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
