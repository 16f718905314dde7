/**
 * Opens an image file as a backend, after checking that its bytes describe a volume: the device
 * header (CKD) or the block structure (FBA), and that the geometry agrees with the file size.
 * Checking happens on a read-only descriptor, so a bad image is never written, and the write lock
 * is taken only once the image is known to be good.
 *
 * Format detection: `CKD_P370` at byte 0 is a CKD image (one file, or with a file sequence the
 * first file of a multi-file volume, multi-file-open.ts); `CKD_C370` is a compressed CCKD image
 * (cckd-open.ts), opened with any shadow files given; an FBA image has no header, so it is
 * recognised by the `.fba` suffix, by "VOL1" in block 1 (what dasdinit writes), or when the caller
 * says so. Anything else is refused rather than guessed at.
 */
import { closeSync, fstatSync } from 'node:fs';
import { fileIdentity, openRegularFile, readAtMost, requireSameFile, type FileIdentity } from '../base/file-io.js';
import { extname } from 'node:path';
import { encodeEbcdic } from '../base/ebcdic.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { familyByDevtypeByte, FBA_BLOCK_BYTES } from '../geometry/device-types.js';
import { ckdGeometry, fbaGeometry, type VolumeGeometry } from '../geometry/volume-geometry.js';
import { EMPTY_TRACK_BYTES } from '../ckd/track-layout.js';
import { CKD_DEVID_UNCOMPRESSED, CKD_HEADER_BYTES, decodeCkdHeader } from './ckd-image-header.js';
import { devidOf, herculesImageKind } from './image-devids.js';
import { lockImage, type ImageLock } from './image-lock.js';
import { SlotFile } from './slot-file.js';
import type { ImageBackend } from './image-backend.js';
import { openCckdImage } from './cckd-open.js';
import { openMultiFileImage } from './multi-file-open.js';

export type ImageFormat = 'ckd' | 'fba';

export interface OpenImageOptions {
  readonly readOnly?: boolean;
  /** Skip detection: treat the file as this format. */
  readonly format?: ImageFormat;
  /** Shadow files over a CCKD base, oldest first (writes go to the last). */
  readonly shadows?: readonly string[];
}

export interface ImageShape {
  readonly format: ImageFormat;
  readonly geometry: VolumeGeometry;
  readonly dataOffsetBytes: number;
  readonly slotBytes: number;
}

const VOL1_EBCDIC = encodeEbcdic('VOL1');

function readPrefix(fd: number, path: string, length: number): Buffer {
  const buf = Buffer.alloc(length);
  return buf.subarray(0, readAtMost(fd, buf, 0, path, 'the image header'));
}

function fail(path: string, message: string, offset: number): never {
  throw new ImageFormatError(`Cannot open ${path}: ${message}`, { path, offset });
}

function ckdShape(path: string, head: Buffer, sizeBytes: number): ImageShape {
  if (sizeBytes < CKD_HEADER_BYTES) fail(path, `truncated: ${sizeBytes} bytes is shorter than the ${CKD_HEADER_BYTES}-byte device header`, sizeBytes);
  const header = decodeCkdHeader(head);
  const family = familyByDevtypeByte(header.devtypeByte);
  if (!family) fail(path, `device type byte 0x${header.devtypeByte.toString(16)} at offset 16 is not a 3390 (0x90) or 3380 (0x80)`, 16);
  if (header.heads !== family.heads) fail(path, `header says ${header.heads} heads at offset 8, but a ${family.family} has ${family.heads}`, 8);
  if (header.trackSlotBytes < EMPTY_TRACK_BYTES || header.trackSlotBytes % FBA_BLOCK_BYTES !== 0 || header.trackSlotBytes > 0xffff) {
    fail(path, `track size ${header.trackSlotBytes} at offset 12 is not a valid slot size (a multiple of 512 up to 65535)`, 12);
  }
  if (header.fileSequence !== 0 || header.highCylinder !== 0) {
    fail(
      path,
      `file sequence ${header.fileSequence} / high cylinder ${header.highCylinder} at offset 17 mark ${header.fileSequence > 1 ? `file ${header.fileSequence} of a multi-file volume: open the set by its first file` : 'one file of a multi-file volume'}`,
      17,
    );
  }
  const cylinderBytes = header.trackSlotBytes * header.heads;
  const dataBytes = sizeBytes - CKD_HEADER_BYTES;
  if (dataBytes === 0 || dataBytes % cylinderBytes !== 0) {
    fail(
      path,
      `geometry disagrees with the file size: ${sizeBytes} bytes is not 512 + whole cylinders of ${header.heads} × ${header.trackSlotBytes} bytes (truncated?)`,
      sizeBytes,
    );
  }
  const geometry = { ...ckdGeometry(family, dataBytes / cylinderBytes), trackSlotBytes: header.trackSlotBytes };
  return { format: 'ckd', geometry, dataOffsetBytes: CKD_HEADER_BYTES, slotBytes: header.trackSlotBytes };
}

function fbaShape(path: string, sizeBytes: number): ImageShape {
  if (sizeBytes % FBA_BLOCK_BYTES !== 0 || sizeBytes < 2 * FBA_BLOCK_BYTES) {
    fail(
      path,
      `an FBA image is whole 512-byte blocks (at least 2), but the file has ${sizeBytes} bytes (truncated?)`,
      sizeBytes - (sizeBytes % FBA_BLOCK_BYTES),
    );
  }
  return { format: 'fba', geometry: fbaGeometry(sizeBytes / FBA_BLOCK_BYTES), dataOffsetBytes: 0, slotBytes: FBA_BLOCK_BYTES };
}

/** Reads and checks an image's shape through `fd` (read-only). */
export function inspectImage(path: string, fd: number, format?: ImageFormat): ImageShape {
  const sizeBytes = fstatSync(fd).size;
  const head = readPrefix(fd, path, Math.max(CKD_HEADER_BYTES, 2 * FBA_BLOCK_BYTES));
  if (format === 'fba') return fbaShape(path, sizeBytes);
  const devid = devidOf(head);
  const kind = herculesImageKind(devid);
  if (format === 'ckd' || kind === 'ckd') {
    if (kind !== 'ckd') fail(path, `header starts "${printable(devid)}", expected ${CKD_DEVID_UNCOMPRESSED}`, 0);
    return ckdShape(path, head, sizeBytes);
  }
  // A Hercules device id is never a headerless FBA image's first bytes, whatever the file's name.
  if (kind === 'cckd') fail(path, `${devid} is a compressed CCKD image: it is opened through its tables (openImage), not as a CKD or FBA image`, 0);
  if (kind === 'cckd-shadow') fail(path, `${devid} is a CCKD shadow file: open its base file with this file as a shadow`, 0);
  if (kind === 'foreign') {
    // dasdcopy keeps the device class: -o CKD of an FBA image is refused.
    const [type, output] = devid.startsWith('FBA_') ? ['FBA', 'out.fba'] : ['CKD', 'out.ckd'];
    fail(path, `${devid} is a Hercules image format snaptape does not open (convert it with Hercules dasdcopy -o ${type} ${path} ${output})`, 0);
  }
  const labelled = head.subarray(FBA_BLOCK_BYTES, FBA_BLOCK_BYTES + 4).equals(VOL1_EBCDIC);
  if (extname(path).toLowerCase() === '.fba' || labelled) return fbaShape(path, sizeBytes);
  fail(path, `unknown header "${printable(devid)}" at offset 0: not a Hercules CKD image (CKD_P370) nor an FBA image with VOL1 in block 1`, 0);
}

/**
 * What kind of volume image the file open at `fd` holds, judged by its first bytes alone as
 * `inspectImage` would (a Hercules device id at byte 0, or VOL1 in block 1 of an FBA image), or
 * undefined when it does not start as one. For a writer about to replace a file: a volume is never
 * taken for a file it may cut.
 */
export function volumeImageKind(fd: number, path: string): string | undefined {
  const head = readPrefix(fd, path, 2 * FBA_BLOCK_BYTES);
  const devid = devidOf(head);
  if (herculesImageKind(devid) !== undefined) return `a Hercules ${devid} volume image`;
  if (head.subarray(FBA_BLOCK_BYTES, FBA_BLOCK_BYTES + 4).equals(VOL1_EBCDIC)) return 'an FBA volume image (VOL1 in block 1)';
  return undefined;
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '.');
}

/** The device id at byte 0 and, for CKD_P370, whether the header marks a multi-file volume. */
function peek(fd: number, path: string): { devid: string; multiFile: boolean } {
  const head = readPrefix(fd, path, CKD_HEADER_BYTES);
  const devid = devidOf(head);
  if (herculesImageKind(devid) !== 'ckd' || head.length < CKD_HEADER_BYTES) return { devid, multiFile: false };
  return { devid, multiFile: decodeCkdHeader(head).fileSequence === 1 };
}

/**
 * Opens an image: checks it read-only, then (for writing) takes the lock and reopens it. CCKD and
 * multi-file volumes go to their own backends.
 */
export function openImage(path: string, options: OpenImageOptions = {}): ImageBackend {
  const readOnly = options.readOnly ?? false;
  // A FIFO or a device at the path is refused here, not read (a FIFO would hang the open).
  let fd = openRegularFile(path, 'the image').fd;
  if (options.format !== 'fba') {
    let kind: { devid: string; multiFile: boolean };
    try {
      kind = peek(fd, path);
    } catch (error) {
      closeSync(fd);
      throw translateIoError(error, `read ${path}`, path);
    }
    if (herculesImageKind(kind.devid) === 'cckd' || kind.multiFile) {
      closeSync(fd);
      return kind.multiFile ? openMultiFileImage(path, { readOnly }) : openCckdImage(path, { readOnly, shadows: options.shadows });
    }
  }
  let shape: ImageShape;
  try {
    if (options.shadows && options.shadows.length > 0) fail(path, 'shadow files belong to a CCKD (CKD_C370) base image', 0);
    shape = inspectImage(path, fd, options.format);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  let lock: ImageLock | undefined;
  if (!readOnly) {
    // Opened again by its name, where whoever can write the folder may have put another file
    // since: only the file inspected is written (file-io.ts requireSameFile).
    let inspected: FileIdentity;
    try {
      inspected = fileIdentity(fd, path, 'the image');
    } finally {
      closeSync(fd);
    }
    lock = lockImage(path);
    try {
      fd = openRegularFile(path, 'the image for writing', true).fd;
    } catch (error) {
      lock.release();
      throw error;
    }
    try {
      requireSameFile(fd, inspected, path, 'the image', 'its open inspected');
    } catch (error) {
      closeSync(fd);
      lock.release();
      throw error;
    }
  }
  return new SlotFile({ path, fd, geometry: shape.geometry, dataOffsetBytes: shape.dataOffsetBytes, slotBytes: shape.slotBytes, readOnly, lock });
}
