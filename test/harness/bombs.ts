/**
 * Decompression bombs for the bounded-decoding tests and the fuzz seeds: small compressed inputs
 * that expand to far more than any legal tape block (64 KiB) or CKD track (56 KiB), planted in a
 * HET tape or a CCKD image the way a hostile file would carry them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { constants, deflateRawSync } from 'node:zlib';

export const MIB = 1024 ** 2;
export const GIB = 1024 ** 3;

/** Zero bytes of the bzip2 stream that bzip2Bomb splices: two full bzip2 blocks of zeros and a tail. */
const BZIP2_BASE_BYTES = 100 * MIB;
const BZIP2_BLOCK_MAGIC = 0x314159265359n;
const BZIP2_END_MAGIC = 0x177245385090n;

function bitAt(buffer: Buffer, i: number): number {
  return ((buffer[i >> 3] as number) >> (7 - (i & 7))) & 1;
}

/** Bit offsets where a 48-bit magic starts (bzip2 blocks are not byte-aligned). */
function findMagic(buffer: Buffer, magic: bigint): number[] {
  const found: number[] = [];
  const mask = (1n << 48n) - 1n;
  let window = 0n;
  for (let i = 0; i < buffer.length * 8; i++) {
    window = ((window << 1n) | BigInt(bitAt(buffer, i))) & mask;
    if (i >= 47 && window === magic) found.push(i - 47);
  }
  return found;
}

function readBits32(buffer: Buffer, at: number): number {
  let value = 0;
  for (let i = 0; i < 32; i++) value = value * 2 + bitAt(buffer, at + i);
  return value;
}

class BitWriter {
  private readonly bytes: number[] = [];
  private current = 0;
  private count = 0;

  put(bit: number): void {
    this.current = (this.current << 1) | bit;
    if (++this.count === 8) {
      this.bytes.push(this.current);
      this.current = 0;
      this.count = 0;
    }
  }

  copy(buffer: Buffer, from: number, to: number): void {
    for (let i = from; i < to; i++) this.put(bitAt(buffer, i));
  }

  u32(value: number): void {
    for (let i = 31; i >= 0; i--) this.put((value >>> i) & 1);
  }

  done(): Buffer {
    while (this.count !== 0) this.put(0);
    return Buffer.from(this.bytes);
  }
}

/**
 * bzip2 of at least `bytes` zero bytes (up to half as much again), under 1 KB for 1 GiB. The bzip2
 * program compresses 100 MiB of zeros (two full blocks of about 45.9 MB each, then a shorter tail);
 * the full block is then repeated bit for bit, and the stream CRC recomputed from the block CRCs
 * (crc = rotl1(crc) ^ blockCrc), instead of compressing a gigabyte.
 */
export function bzip2Bomb(bytes: number): Buffer {
  const base = execFileSync('sh', ['-c', `head -c ${Math.min(bytes, BZIP2_BASE_BYTES)} /dev/zero | bzip2 -9`], { maxBuffer: MIB });
  if (bytes <= BZIP2_BASE_BYTES) return base;
  const [first, second, tail] = findMagic(base, BZIP2_BLOCK_MAGIC);
  const [end] = findMagic(base, BZIP2_END_MAGIC);
  if (first === undefined || second === undefined || tail === undefined || end === undefined)
    throw new Error('bzip2Bomb: the base stream has not two full blocks and a tail');
  // The full block holds more than a third of the base (two of them and a shorter tail).
  const fullBlocks = Math.ceil((3 * bytes) / BZIP2_BASE_BYTES);
  const out = new BitWriter();
  out.copy(base, 0, first); // "BZh9"
  let crc = 0;
  const add = (blockCrc: number): void => {
    crc = (((crc << 1) | (crc >>> 31)) ^ blockCrc) >>> 0;
  };
  for (let i = 0; i < fullBlocks; i++) {
    out.copy(base, first, second);
    add(readBits32(base, first + 48));
  }
  out.copy(base, tail, end);
  add(readBits32(base, tail + 48));
  out.copy(base, end, end + 48);
  out.u32(crc);
  return out.done();
}

/**
 * A zlib stream of `bytes` zero bytes (a multiple of 1 MiB; 1 GiB gives about 1 MB). Fully flushed
 * deflate pieces are byte-aligned and independent, so one compressed MiB is repeated instead of
 * compressing a 1 GiB buffer; the stream ends with an empty final block and the Adler-32 of the
 * zeros (a = 1, b = bytes mod 65521).
 */
export function zlibBomb(bytes: number): Buffer {
  if (bytes % MIB !== 0) throw new Error(`zlibBomb: ${bytes} is not a multiple of 1 MiB`);
  const piece = deflateRawSync(Buffer.alloc(MIB), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((bytes % 65521) << 16) | 1) >>> 0);
  const pieces = Array.from({ length: bytes / MIB }, () => piece);
  return Buffer.concat([Buffer.from([0x78, 0xda]), ...pieces, Buffer.from([0x03, 0x00]), adler]);
}

/** HET flags1 bits of a compressed block (AWSTAPE chunk header byte 4). */
export const HET_ZLIB = 0x01;
export const HET_BZIP2 = 0x02;

/**
 * A HET tape whose first block is `stored` (compressed as `flag` says), split into chunks of at most
 * 65,535 bytes, followed by two tapemarks. `tape ls` reads block 0 first (is it a VOL1 label?).
 */
export function hetTapeWithBlock(stored: Buffer, flag: number): Buffer {
  const parts: Buffer[] = [];
  let previous = 0;
  for (let at = 0; at < stored.length; at += 0xffff) {
    const chunk = stored.subarray(at, at + 0xffff);
    const header = Buffer.alloc(6);
    header.writeUInt16LE(chunk.length, 0);
    header.writeUInt16LE(previous, 2);
    header[4] = flag | (at === 0 ? 0x80 : 0) | (at + chunk.length >= stored.length ? 0x20 : 0);
    parts.push(header, chunk);
    previous = chunk.length;
  }
  for (let i = 0; i < 2; i++) {
    const mark = Buffer.alloc(6);
    mark.writeUInt16LE(previous, 2);
    mark[4] = 0x40;
    parts.push(mark);
    previous = 0;
  }
  return Buffer.concat(parts);
}

/**
 * Replaces track `track` of a (little-endian) CCKD image by a stored image with compression byte
 * `code` and `body`, appended at the end of the file; its L2 entry points there. The old image is
 * left as an unaccounted gap, which a read-only open tolerates.
 */
export function plantCckdTrack(path: string, track: number, heads: number, code: number, body: Buffer): void {
  const file = readFileSync(path);
  const header = Buffer.alloc(5);
  header[0] = code;
  header.writeUInt16BE(Math.floor(track / heads), 1);
  header.writeUInt16BE(track % heads, 3);
  const image = Buffer.concat([header, body]);
  const l2 = file.readUInt32LE(1024 + 4 * Math.floor(track / 256));
  if (l2 === 0 || l2 === 0xffffffff) throw new Error(`plantCckdTrack: track ${track} has no L2 table in ${path}`);
  const entry = l2 + 8 * (track % 256);
  file.writeUInt32LE(file.length, entry);
  file.writeUInt16LE(image.length, entry + 4);
  file.writeUInt16LE(image.length, entry + 6);
  writeFileSync(path, Buffer.concat([file, image]));
}
