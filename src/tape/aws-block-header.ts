/**
 * The 6-byte AWSTAPE/HET chunk header (native-layout/aws-block-header.md).
 *
 * A tape file is a sequence of chunks, each this header followed by `curlen` data bytes. A block is
 * one chunk (flags1 0xA0) or a run of chunks: first 0x80, middle 0x00, last 0x20. A tapemark is a
 * header with curlen 0 and flags1 0x40. `prvlen` is the curlen of the previous *chunk* in the file
 * (0 for the first chunk), so every header is determined by the lengths of the chunks before it.
 *
 * Invariants: lengths are little-endian u16 (whatever the host); a chunk holds at most 65535 bytes;
 * flags2 is always 0 in what we write.
 */
import { defineLayout, decodeFields, encodeFieldsInto, field, num } from '../base/field-table.js';
import { assertInteger } from '../base/assert.js';

export const AWS_BLOCK_HEADER_LAYOUT = defineLayout({
  name: 'aws-block-header',
  size: 6,
  fill: 0x00,
  fields: [
    { name: 'curlen', offset: 0, length: 2, kind: 'u16le', description: 'data bytes following this header (0 for a tapemark)' },
    { name: 'prvlen', offset: 2, length: 2, kind: 'u16le', description: 'curlen of the previous chunk in the file (0 for the first chunk)' },
    {
      name: 'flags1',
      offset: 4,
      length: 1,
      kind: 'u8',
      description: '0x80 first chunk of a block, 0x20 last chunk, 0x40 tapemark; HET: 0x01 zlib, 0x02 bzip2',
    },
    { name: 'flags2', offset: 5, length: 1, kind: 'u8', description: '0 (0x80 = Bus-Tech zlib, not supported)' },
  ],
});

/** Bytes of one chunk header. */
export const AWS_HEADER_BYTES = AWS_BLOCK_HEADER_LAYOUT.size;
/** Largest curlen: the field is a u16. */
export const MAX_CHUNK_DATA_BYTES = 0xffff;
/** Largest block we accept after reassembly: Hercules 3.13 rejects anything above 65535. */
export const MAX_BLOCK_BYTES = 0xffff;

export const FLAG1_NEW_RECORD = 0x80;
export const FLAG1_TAPEMARK = 0x40;
export const FLAG1_END_OF_RECORD = 0x20;
export const FLAG1_ZLIB = 0x01;
export const FLAG1_BZIP2 = 0x02;
export const FLAG1_COMPRESSION_MASK = FLAG1_ZLIB | FLAG1_BZIP2;
/** Every flags1 bit that has a meaning; any other bit set is a damaged header. */
export const FLAG1_KNOWN_BITS = FLAG1_NEW_RECORD | FLAG1_TAPEMARK | FLAG1_END_OF_RECORD | FLAG1_COMPRESSION_MASK;
/** A whole block in one chunk, uncompressed. */
export const FLAG1_WHOLE_BLOCK = FLAG1_NEW_RECORD | FLAG1_END_OF_RECORD;

export interface AwsBlockHeader {
  readonly curlenBytes: number;
  readonly prvlenBytes: number;
  readonly flags1: number;
  readonly flags2: number;
}

export const CURLEN_OFFSET = field(AWS_BLOCK_HEADER_LAYOUT, 'curlen').offset;
export const PRVLEN_OFFSET = field(AWS_BLOCK_HEADER_LAYOUT, 'prvlen').offset;
export const FLAGS1_OFFSET = field(AWS_BLOCK_HEADER_LAYOUT, 'flags1').offset;
export const FLAGS2_OFFSET = field(AWS_BLOCK_HEADER_LAYOUT, 'flags2').offset;

export function encodeAwsBlockHeader(header: AwsBlockHeader): Buffer {
  const bytes = Buffer.alloc(AWS_HEADER_BYTES);
  writeAwsBlockHeader(header, bytes, 0);
  return bytes;
}

/** `encodeAwsBlockHeader` into `target` at `offset` (a table of headers, with none allocated). */
export function writeAwsBlockHeader(header: AwsBlockHeader, target: Buffer, offset: number): void {
  assertInteger(header.curlenBytes, 'curlenBytes', 0, MAX_CHUNK_DATA_BYTES);
  assertInteger(header.prvlenBytes, 'prvlenBytes', 0, MAX_CHUNK_DATA_BYTES);
  encodeFieldsInto(
    AWS_BLOCK_HEADER_LAYOUT,
    { curlen: header.curlenBytes, prvlen: header.prvlenBytes, flags1: header.flags1, flags2: header.flags2 },
    target,
    offset,
  );
}

export function decodeAwsBlockHeader(bytes: Uint8Array): AwsBlockHeader {
  const values = decodeFields(AWS_BLOCK_HEADER_LAYOUT, bytes);
  return {
    curlenBytes: num(values, 'curlen'),
    prvlenBytes: num(values, 'prvlen'),
    flags1: num(values, 'flags1'),
    flags2: num(values, 'flags2'),
  };
}

/** Header of a whole uncompressed block in one chunk (flags1 0xA0), as Hercules writes it. */
export function blockHeaderBytes(options: { readonly lengthBytes: number; readonly previousChunkBytes: number }): Buffer {
  const bytes = Buffer.alloc(AWS_HEADER_BYTES);
  writeBlockHeader(options, bytes, 0);
  return bytes;
}

/** `blockHeaderBytes` into `target` at `offset`: a backup plans one per track, all at its start instant. */
export function writeBlockHeader(options: { readonly lengthBytes: number; readonly previousChunkBytes: number }, target: Buffer, offset: number): void {
  assertInteger(options.lengthBytes, 'lengthBytes', 1, MAX_CHUNK_DATA_BYTES);
  writeAwsBlockHeader({ curlenBytes: options.lengthBytes, prvlenBytes: options.previousChunkBytes, flags1: FLAG1_WHOLE_BLOCK, flags2: 0 }, target, offset);
}

/**
 * The headers of `count` consecutive whole blocks of one file, from `lengths[first]`, the first of
 * them right after a tapemark (prvlen 0), into `target` at `first` × 6: a backup's table of headers,
 * made at its start instant. The same bytes as `writeBlockHeader` for each block, written straight
 * at the layout's offsets: built per block through the field table, a 3390-3's 50,085 headers held
 * the owning thread (and every host write behind it) for tens of ms.
 */
export function writeBlockHeaders(lengths: ArrayLike<number>, first: number, count: number, target: Buffer): void {
  let previous = 0;
  for (let i = first; i < first + count; i++) {
    const length = lengths[i] as number;
    if (!(Number.isInteger(length) && length >= 1 && length <= MAX_CHUNK_DATA_BYTES)) assertInteger(length, 'lengthBytes', 1, MAX_CHUNK_DATA_BYTES);
    const at = i * AWS_HEADER_BYTES;
    target.writeUInt16LE(length, at + CURLEN_OFFSET);
    target.writeUInt16LE(previous, at + PRVLEN_OFFSET);
    target[at + FLAGS1_OFFSET] = FLAG1_WHOLE_BLOCK;
    target[at + FLAGS2_OFFSET] = 0;
    previous = length;
  }
}

/** Header of a tapemark (`00 00 pp pp 40 00`). */
export function tapemarkHeaderBytes(previousChunkBytes: number): Buffer {
  return encodeAwsBlockHeader({ curlenBytes: 0, prvlenBytes: previousChunkBytes, flags1: FLAG1_TAPEMARK, flags2: 0 });
}
