/**
 * Opens a multi-file CKD volume from its first file (native-layout/multi-file-volume.md): checks every file's header
 * on a read-only descriptor (same heads, slot size and device type; `fileSequence` 1, 2, ...;
 * `highCylinder` = cylinders so far - 1, and 0 in the last file), then reopens them for writing
 * under one lock each. A damaged set is refused before anything is written.
 */
import { closeSync, openSync } from 'node:fs';
import { fileIdentity, openRegularFile, readAtMost, requireSameFile, type FileIdentity } from '../base/file-io.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { familyByDevtypeByte } from '../geometry/device-types.js';
import { ckdGeometry, type CkdGeometry } from '../geometry/volume-geometry.js';
import { CKD_DEVID_UNCOMPRESSED, CKD_HEADER_BYTES, decodeCkdHeader, type CkdImageHeader } from './ckd-image-header.js';
import { lockImage, type ImageLock } from './image-lock.js';
import { MULTI_FILE_MAX_FILES, MultiFileBackend, multiFilePartPath, type MultiFilePart } from './multi-file-backend.js';
import { SlotFile } from './slot-file.js';

interface PartShape {
  readonly path: string;
  readonly header: CkdImageHeader;
  readonly cylinders: number;
  /** The file inspected: the one its writer must open again by the name (file-io.ts requireSameFile). */
  readonly identity: FileIdentity;
}

function refuse(path: string, message: string, offset: number): never {
  throw new ImageFormatError(`Cannot open ${path}: ${message}`, { path, offset });
}

function readPart(path: string, sequence: number, first: CkdImageHeader | undefined): PartShape {
  const { fd, sizeBytes } = openRegularFile(path, `file ${sequence} of a multi-file volume`);
  try {
    const head = Buffer.alloc(CKD_HEADER_BYTES);
    if (readAtMost(fd, head, 0, path, 'the device header') < CKD_HEADER_BYTES)
      refuse(path, `truncated: ${sizeBytes} bytes is shorter than the device header`, sizeBytes);
    const header = decodeCkdHeader(head);
    if (header.devid !== CKD_DEVID_UNCOMPRESSED)
      refuse(path, `file ${sequence} of a multi-file volume starts "${header.devid}", expected ${CKD_DEVID_UNCOMPRESSED}`, 0);
    if (first && (header.heads !== first.heads || header.trackSlotBytes !== first.trackSlotBytes || header.devtypeByte !== first.devtypeByte)) {
      refuse(
        path,
        `file ${sequence} has heads ${header.heads}, track size ${header.trackSlotBytes}, device type 0x${header.devtypeByte.toString(16)}; file 1 has ${first.heads}, ${first.trackSlotBytes}, 0x${first.devtypeByte.toString(16)}`,
        8,
      );
    }
    if (header.fileSequence !== sequence) refuse(path, `file sequence ${header.fileSequence} at offset 17, expected ${sequence}`, 17);
    const cylinderBytes = header.heads * header.trackSlotBytes;
    const dataBytes = sizeBytes - CKD_HEADER_BYTES;
    if (cylinderBytes === 0 || dataBytes <= 0 || dataBytes % cylinderBytes !== 0)
      refuse(path, `${sizeBytes} bytes is not 512 + whole cylinders of ${header.heads} × ${header.trackSlotBytes} bytes (truncated?)`, sizeBytes);
    return { path, header, cylinders: dataBytes / cylinderBytes, identity: fileIdentity(fd, path, `file ${sequence} of a multi-file volume`) };
  } finally {
    closeSync(fd);
  }
}

/** The parts of the set whose first file is `firstPath`, checked. */
export function inspectMultiFile(firstPath: string): { geometry: CkdGeometry; parts: readonly PartShape[] } {
  const parts: PartShape[] = [];
  let cylinders = 0;
  // Bounded: at most MULTI_FILE_MAX_FILES files.
  for (let sequence = 1; sequence <= MULTI_FILE_MAX_FILES; sequence++) {
    const path = multiFilePartPath(firstPath, sequence);
    const part = readPart(path, sequence, parts[0]?.header);
    parts.push(part);
    const high = part.header.highCylinder;
    cylinders += part.cylinders;
    if (high === 0) break;
    // Legacy rule (native-layout/multi-file-volume.md): file 1 whose high cylinder is its own cylinder count is whole.
    if (sequence === 1 && high === part.cylinders) break;
    if (high !== cylinders - 1) refuse(path, `high cylinder ${high} at offset 18, but files 1-${sequence} hold cylinders 0-${cylinders - 1}`, 18);
    if (sequence === MULTI_FILE_MAX_FILES)
      refuse(path, `file ${sequence} is not marked last (high cylinder 0), and a volume has at most ${MULTI_FILE_MAX_FILES} files`, 18);
  }
  const header = (parts[0] as PartShape).header;
  const family = familyByDevtypeByte(header.devtypeByte);
  if (!family) refuse(firstPath, `device type byte 0x${header.devtypeByte.toString(16)} at offset 16 is not a 3390 (0x90) or 3380 (0x80)`, 16);
  if (header.heads !== family.heads) refuse(firstPath, `header says ${header.heads} heads at offset 8, but a ${family.family} has ${family.heads}`, 8);
  return { geometry: { ...ckdGeometry(family, cylinders), trackSlotBytes: header.trackSlotBytes }, parts };
}

export function openMultiFileImage(firstPath: string, options: { readOnly: boolean }): MultiFileBackend {
  const { geometry, parts } = inspectMultiFile(firstPath);
  const opened: MultiFilePart[] = [];
  const family = geometry.family;
  let firstTrack = 0;
  try {
    for (const part of parts) {
      let lock: ImageLock | undefined;
      if (!options.readOnly) lock = lockImage(part.path);
      let fd: number;
      try {
        fd = openSync(part.path, options.readOnly ? 'r' : 'r+');
      } catch (error) {
        lock?.release();
        throw translateIoError(error, `open ${part.path}`, part.path);
      }
      try {
        // Opened again by its name: only the file inspected is written, not one put at the name since.
        if (!options.readOnly) requireSameFile(fd, part.identity, part.path, 'the part', 'the volume was inspected as');
      } catch (error) {
        closeSync(fd);
        lock?.release();
        throw error;
      }
      const partGeometry = { ...ckdGeometry(family, part.cylinders), trackSlotBytes: geometry.trackSlotBytes };
      const file = new SlotFile({
        path: part.path,
        fd,
        geometry: partGeometry,
        dataOffsetBytes: CKD_HEADER_BYTES,
        slotBytes: geometry.trackSlotBytes,
        readOnly: options.readOnly,
        lock,
      });
      opened.push({ file, firstTrack, trackCount: partGeometry.trackCount });
      firstTrack += partGeometry.trackCount;
    }
  } catch (error) {
    for (const p of opened) p.file.close();
    throw error;
  }
  return new MultiFileBackend(geometry, opened, options.readOnly);
}
