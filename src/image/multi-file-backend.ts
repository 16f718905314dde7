/**
 * A CKD volume split across several `CKD_P370` files (native-layout/multi-file-volume.md, vector 10): every file has
 * its own 512-byte header, `fileSequence` 1..n, and `highCylinder` = the last cylinder it holds
 * (0 in the last file). Track t lives in the file whose cylinder range holds t / heads.
 *
 * Naming, as Hercules opens a set: the next names come from the first by replacing the character
 * just before the first '.' of the base name (or its last character) with 2, 3, ... 9, A, B, ...
 *
 * Units are not at one file's fixed offsets, so `location()` says `main-thread` (copies read on the main
 * thread). Invariant: the parts cover cylinders 0..cylinders-1 in order, without gaps.
 */
import { basename, dirname, join } from 'node:path';
import { assert } from '../base/assert.js';
import { AddressRangeError } from '../errors/snaptape-error.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { ImageBackend, UnitLocation } from './image-backend.js';
import type { SlotFile } from './slot-file.js';

/** Hercules 3.13 CKD_MAXFILES: names run 1-9 then A-Q. */
export const MULTI_FILE_MAX_FILES = 27;
const FILE_NUMBER_DIGITS = '123456789ABCDEFGHIJKLMNOPQR';

/** The name of file `sequence` (1-based) of the set whose first file is `firstPath`. */
export function multiFilePartPath(firstPath: string, sequence: number): string {
  assert(sequence >= 1 && sequence <= MULTI_FILE_MAX_FILES, 'file numbers run 1..27');
  if (sequence === 1) return firstPath;
  const name = basename(firstPath);
  const dot = name.indexOf('.');
  const at = dot > 0 ? dot - 1 : name.length - 1;
  const next = `${name.slice(0, at)}${FILE_NUMBER_DIGITS[sequence - 1] as string}${name.slice(at + 1)}`;
  return join(dirname(firstPath), next);
}

export interface MultiFilePart {
  readonly file: SlotFile;
  readonly firstTrack: number;
  readonly trackCount: number;
}

export class MultiFileBackend implements ImageBackend {
  // Set once.
  readonly path: string;
  readonly geometry: CkdGeometry;
  readonly readOnly: boolean;
  readonly slotBytes: number;
  readonly parts: readonly MultiFilePart[];
  // Main thread only.
  private closed = false;

  constructor(geometry: CkdGeometry, parts: readonly MultiFilePart[], readOnly: boolean) {
    assert(parts.length > 0 && parts[0]?.firstTrack === 0, 'the parts start at track 0');
    parts.forEach((p, i) =>
      assert(i === 0 || p.firstTrack === (parts[i - 1] as MultiFilePart).firstTrack + (parts[i - 1] as MultiFilePart).trackCount, 'the parts are contiguous'),
    );
    this.geometry = geometry;
    this.parts = parts;
    this.readOnly = readOnly;
    this.path = (parts[0] as MultiFilePart).file.path;
    this.slotBytes = geometry.trackSlotBytes;
  }

  private partOf(trackIndex: number): MultiFilePart {
    if (!Number.isInteger(trackIndex) || trackIndex < 0 || trackIndex >= this.geometry.trackCount) {
      throw new AddressRangeError(`Cannot address track ${trackIndex} on ${this.path}: the volume has tracks 0-${this.geometry.trackCount - 1}`, {
        path: this.path,
        track: trackIndex,
      });
    }
    // Bounded by MULTI_FILE_MAX_FILES parts.
    const part = this.parts.find((p) => trackIndex < p.firstTrack + p.trackCount);
    assert(part !== undefined, 'the parts cover the volume');
    return part;
  }

  readUnit(unitIndex: number, lengthBytes: number): Buffer {
    const part = this.partOf(unitIndex);
    return part.file.readUnit(unitIndex - part.firstTrack, lengthBytes);
  }

  readUnits(firstUnit: number, count: number): Buffer {
    if (count > 0) this.partOf(firstUnit + count - 1);
    const pieces: Buffer[] = [];
    let unit = firstUnit;
    while (unit < firstUnit + count) {
      const part = this.partOf(unit);
      const take = Math.min(firstUnit + count, part.firstTrack + part.trackCount) - unit;
      pieces.push(part.file.readUnits(unit - part.firstTrack, take));
      unit += take;
    }
    return Buffer.concat(pieces);
  }

  writeUnit(unitIndex: number, data: Uint8Array, offsetInSlot = 0): void {
    const part = this.partOf(unitIndex);
    part.file.writeUnit(unitIndex - part.firstTrack, data, offsetInSlot);
  }

  sync(): void {
    for (const p of this.parts) p.file.sync();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.parts) p.file.close();
  }

  location(): UnitLocation {
    return { kind: 'main-thread', path: this.path, reason: "a multi-file volume's tracks are spread over several files" };
  }
}
