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

/** bzip2 of `bytes` zero bytes, from the bzip2 program (1 GiB gives 785 bytes, in some seconds). */
export function bzip2Bomb(bytes: number): Buffer {
  return execFileSync('sh', ['-c', `head -c ${bytes} /dev/zero | bzip2 -9`], { maxBuffer: MIB });
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
