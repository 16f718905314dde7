/**
 * Compression of CCKD track images (native-layout/cckd-header.md; Hercules `cckddasd.c` cckd_compress_zlib /
 * cckd_compress_bzip2): the bytes after the 5-byte track header are stored as they are (0), as a
 * zlib stream (1, `compress2`: starts 78 xx) or as a bzip2 stream (2, starts "BZh"). zlib is Node's
 * own; bzip2 decodes with `seek-bzip` (bounded, below) and encodes with libbz2 when the optional
 * native package loads, else with the pure-JS `compressjs` (src/image/bzip2-encoder.ts; both are
 * checked against Hercules in test/cckd).
 *
 * Invariant: damaged data is an ImageFormatError naming the file, track and offset, never a crash,
 * and a body never inflates past the track slot (`maxBytes`): decoding stops there
 * (src/base/bounded-decompress.ts), so a crafted image cannot expand to gigabytes.
 */
import { deflateSync } from 'node:zlib';
import { OutputLimitError, decompressBounded } from '../base/bounded-decompress.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { bzip2Encoder } from './bzip2-encoder.js';
import { CCKD_COMPRESSION, type CckdCompression } from './cckd-layouts.js';

/** Images shorter than this are stored uncompressed (Hercules CCKD_COMPRESS_MIN: not worth it). */
export const CCKD_COMPRESS_MIN_BYTES = 512;
/** bzip2 block size in units of 100 kB: one block holds the largest track (56 832 bytes). */
const BZIP2_BLOCK_100K = 1;
/** zlib level when the header's parameter is "default" (Hercules: Z_DEFAULT_COMPRESSION). */
const ZLIB_DEFAULT_LEVEL = 6;

export interface StoredImageSource {
  readonly path: string;
  readonly trackIndex: number;
  readonly offsetBytes: number;
}

export function compressionName(code: number): CckdCompression | undefined {
  return (Object.keys(CCKD_COMPRESSION) as CckdCompression[]).find((name) => CCKD_COMPRESSION[name] === code);
}

/**
 * Compresses a track body (the image after its 5-byte header). Returns the code actually used:
 * short bodies, and bodies that would not shrink, are stored as they are.
 */
export function compressBody(body: Buffer, wanted: CckdCompression, level: number): { code: number; bytes: Buffer } {
  if (wanted === 'none' || body.length < CCKD_COMPRESS_MIN_BYTES) return { code: CCKD_COMPRESSION.none, bytes: body };
  const bytes =
    wanted === 'zlib' ? deflateSync(body, { level: level >= 0 && level <= 9 ? level : ZLIB_DEFAULT_LEVEL }) : bzip2Encoder().compress(body, BZIP2_BLOCK_100K);
  if (bytes.length >= body.length) return { code: CCKD_COMPRESSION.none, bytes: body };
  return { code: CCKD_COMPRESSION[wanted], bytes };
}

function damaged(where: StoredImageSource, problem: string): ImageFormatError {
  return new ImageFormatError(`Cannot read track ${where.trackIndex} of ${where.path}: its image at byte offset ${where.offsetBytes} ${problem}`, {
    path: where.path,
    track: where.trackIndex,
    offset: where.offsetBytes,
  });
}

/** Decompresses a stored body; `maxBytes` bounds the result (the slot less the header). */
export function decompressBody(stored: Buffer, code: number, maxBytes: number, where: StoredImageSource): Buffer {
  let body: Buffer;
  try {
    if (code === CCKD_COMPRESSION.none) body = stored;
    else if (code === CCKD_COMPRESSION.zlib) body = decompressBounded(stored, 'zlib', maxBytes);
    else if (code === CCKD_COMPRESSION.bzip2) body = decompressBounded(stored, 'bzip2', maxBytes);
    else throw damaged(where, `has compression byte ${code} (0 none, 1 zlib, 2 bzip2)`);
  } catch (cause) {
    if (cause instanceof ImageFormatError) throw cause;
    if (cause instanceof OutputLimitError) throw damaged(where, `expands past the ${maxBytes}-byte track with ${compressionName(code) ?? code}`);
    const text = cause instanceof Error ? (cause.message.split('\n')[0] ?? '') : String(cause);
    throw damaged(where, `does not decompress with ${compressionName(code) ?? code} (${text})`);
  }
  if (body.length > maxBytes) throw damaged(where, `decompresses to ${body.length} bytes, more than the ${maxBytes}-byte slot`);
  return body;
}
