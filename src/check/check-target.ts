/**
 * What a path given to `snaptape check` is, found from its bytes (never from its name alone):
 * - a folder holding `pool.slots`: a subsystem; a mapped volume file (magic SNAPMDIR) checks the
 *   subsystem folder it lives in;
 * - `CKD_P370` at byte 0: a CKD image, or the first file of a multi-file volume (file sequence 1);
 *   `CKD_C370` / `CKD_S370`: a compressed CCKD base or shadow file (native-layout/cckd-header.md);
 * - a chain of AWSTAPE chunk headers from byte 0 (prvlen 0 first, each next prvlen equal to the
 *   chunk before, known flags): a tape, HET when a chunk carries a compression flag (native-layout/aws-block-header.md);
 * - whole 512-byte blocks with VOL1 in block 1, or named `.fba`: an FBA image (native-layout/fba-image.md).
 * Anything else is an ImageFormatError, one line naming the path and its first bytes.
 *
 * Invariant: detection reads through a read-only descriptor and never writes.
 */
import { closeSync, statSync } from 'node:fs';
import { openRegularFile, readAtMost } from '../base/file-io.js';
import { dirname, extname, join, resolve } from 'node:path';
import { encodeEbcdic } from '../base/ebcdic.js';
import { translateIoError } from '../errors/io-error.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { FBA_BLOCK_BYTES } from '../geometry/device-types.js';
import { CKD_HEADER_BYTES, decodeCkdHeader } from '../image/ckd-image-header.js';
import { devidOf, herculesImageKind } from '../image/image-devids.js';
import { DIRECTORY_MAGIC, POOL_FILE } from '../subsystem/subsystem-layouts.js';
import {
  AWS_HEADER_BYTES,
  FLAG1_COMPRESSION_MASK,
  FLAG1_KNOWN_BITS,
  FLAG1_NEW_RECORD,
  FLAG1_TAPEMARK,
  decodeAwsBlockHeader,
} from '../tape/aws-block-header.js';

export type CheckTarget =
  | { readonly kind: 'image'; readonly format: 'ckd' | 'multi-file-ckd' | 'cckd' | 'cckd-shadow' | 'fba'; readonly path: string }
  | { readonly kind: 'tape'; readonly path: string }
  | { readonly kind: 'subsystem'; readonly dir: string; readonly path: string };

/** Chunk headers followed to recognise a tape: enough to rule out chance, few enough to be instant. */
export const TAPE_PROBE_CHUNKS = 16;
/** Bytes read from the start of a file to recognise it: a CKD header, or FBA blocks 0 and 1. */
const PROBE_BYTES = Math.max(CKD_HEADER_BYTES, 2 * FBA_BLOCK_BYTES);
const VOL1_EBCDIC = encodeEbcdic('VOL1');

function notRecognised(path: string, head: Buffer, action: string): never {
  const first = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new ImageFormatError(
    `Cannot ${action} ${path}: it is not a CKD, CCKD or FBA image, an AWSTAPE or HET tape, nor a subsystem folder (first bytes ${first || 'none: the file is empty'})`,
    { path, offset: 0 },
  );
}

function readAt(fd: number, path: string, length: number, position: number): Buffer {
  const out = Buffer.alloc(length);
  return out.subarray(0, readAtMost(fd, out, position, path));
}

/**
 * True when the file starts like an AWSTAPE chain: the first chunk header is valid (prvlen 0,
 * flags2 0, a tapemark or the first chunk of a block), and most of the next links agree, so a tape
 * with one damaged header is still recognised (and then checked) as a tape.
 */
export function looksLikeTape(fd: number, path: string, sizeBytes: number): boolean {
  let offset = 0;
  let previous = 0;
  let walked = 0;
  let bad = 0;
  for (let n = 0; n < TAPE_PROBE_CHUNKS && offset + AWS_HEADER_BYTES <= sizeBytes; n++) {
    const header = decodeAwsBlockHeader(readAt(fd, path, AWS_HEADER_BYTES, offset));
    const tapemark = header.flags1 === FLAG1_TAPEMARK && header.curlenBytes === 0;
    const data =
      header.curlenBytes > 0 &&
      (header.flags1 & ~FLAG1_KNOWN_BITS) === 0 &&
      (header.flags1 & FLAG1_TAPEMARK) === 0 &&
      (header.flags1 & FLAG1_COMPRESSION_MASK) !== FLAG1_COMPRESSION_MASK;
    const linked = header.prvlenBytes === previous && header.flags2 === 0 && (tapemark || data);
    // The very first chunk must be right: it starts a block (or is a tapemark) with prvlen 0.
    if (n === 0 && (!linked || (data && (header.flags1 & FLAG1_NEW_RECORD) === 0))) return false;
    walked += 1;
    if (!linked) bad += 1;
    previous = header.curlenBytes;
    offset += AWS_HEADER_BYTES + header.curlenBytes;
  }
  return walked > 0 && bad * 2 < walked;
}

function imageFormatOf(path: string, head: Buffer, action: string): CheckTarget | undefined {
  const devid = devidOf(head);
  const kind = herculesImageKind(devid);
  if (kind === 'cckd') return { kind: 'image', format: 'cckd', path };
  if (kind === 'cckd-shadow') return { kind: 'image', format: 'cckd-shadow', path };
  if (kind === 'foreign') {
    throw new ImageFormatError(`Cannot ${action} ${path}: ${devid} is a Hercules image format snaptape does not read (convert it with Hercules dasdcopy)`, {
      path,
      offset: 0,
    });
  }
  if (kind !== 'ckd' || head.length < CKD_HEADER_BYTES) return undefined;
  const header = decodeCkdHeader(head);
  if (header.fileSequence === 1) return { kind: 'image', format: 'multi-file-ckd', path };
  if (header.fileSequence > 1) {
    throw new ImageFormatError(
      `Cannot ${action} ${path}: its header (file sequence ${header.fileSequence} at offset 17) marks file ${header.fileSequence} of a multi-file volume; ${action} the set by its first file`,
      { path, offset: 17 },
    );
  }
  return { kind: 'image', format: 'ckd', path };
}

/**
 * Finds what `path` is, or throws an ImageFormatError naming it; `action` is the verb of the
 * command that asked (check, describe), so that its one error line names what the user ran.
 */
export function detectCheckTarget(path: string, action = 'check'): CheckTarget {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    throw translateIoError(error, `${action} ${path}`, path);
  }
  if (isDirectory) {
    let pool = false;
    try {
      pool = statSync(join(path, POOL_FILE)).isFile();
    } catch {
      pool = false;
    }
    if (!pool) throw new ImageFormatError(`Cannot ${action} ${path}: it is a folder but not a subsystem (no ${POOL_FILE} in it)`, { path, offset: 0 });
    return { kind: 'subsystem', dir: path, path };
  }
  const { fd, sizeBytes } = openRegularFile(path, 'the file');
  try {
    const head = readAt(fd, path, PROBE_BYTES, 0);
    if (head.subarray(0, DIRECTORY_MAGIC.length).toString('latin1') === DIRECTORY_MAGIC) {
      return { kind: 'subsystem', dir: dirname(resolve(path)), path };
    }
    const image = imageFormatOf(path, head, action);
    if (image) return image;
    if (looksLikeTape(fd, path, sizeBytes)) return { kind: 'tape', path };
    const wholeBlocks = sizeBytes % FBA_BLOCK_BYTES === 0 && sizeBytes >= 2 * FBA_BLOCK_BYTES;
    const labelled = head.subarray(FBA_BLOCK_BYTES, FBA_BLOCK_BYTES + VOL1_EBCDIC.length).equals(VOL1_EBCDIC);
    if (wholeBlocks && (labelled || extname(path).toLowerCase() === '.fba')) return { kind: 'image', format: 'fba', path };
    return notRecognised(path, head, action);
  } finally {
    closeSync(fd);
  }
}
