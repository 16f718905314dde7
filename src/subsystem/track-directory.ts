/**
 * The virtual track directory of a mapped volume (native-layout/mapped-subsystem.md): one entry
 * per virtual track holding a pool slot or UNALLOCATED_SLOT, the slot's extent (bytes that may be
 * non-zero) and flags. The file is the mapped volume: its path is the volume's path.
 *
 * Invariants: every entry is written with one positioned write of its 8 bytes, so a killed
 * process leaves each entry either old or new; the header never changes after creation.
 */
import { endianness } from 'node:os';
import { assert } from '../base/assert.js';
import { closeSync, existsSync } from 'node:fs';
import { openRegularFile, readAtMost, readFully, writeFully } from '../base/file-io.js';
import { decodeFields, encodeFields, field, num, str } from '../base/field-table.js';
import { ImageFormatError, TargetExistsError } from '../errors/snaptape-error.js';
import { durableReplace } from '../image/durable-replace.js';
import { ckdGeometry, type CkdGeometry } from '../geometry/volume-geometry.js';
import type { CkdFamily } from '../geometry/device-types.js';
import {
  DIRECTORY_ENTRY_BYTES,
  DIRECTORY_HEADER_LAYOUT,
  DIRECTORY_MAGIC,
  ENTRY_EXTENT_OFFSET,
  ENTRY_FLAGS_OFFSET,
  ENTRY_SLOT_OFFSET,
  SUBSYSTEM_FORMAT_VERSION,
  UNALLOCATED_SLOT,
} from './subsystem-layouts.js';
import { ioSync } from './track-pool.js';

// The entry fields as indexes into u32/u16 views of the entries (from the layout, not bare numbers).
const U32_PER_ENTRY = DIRECTORY_ENTRY_BYTES / 4;
const U16_PER_ENTRY = DIRECTORY_ENTRY_BYTES / 2;
const SLOT_U32 = ENTRY_SLOT_OFFSET / 4;
const EXTENT_U16 = ENTRY_EXTENT_OFFSET / 2;
const FLAGS_U16 = ENTRY_FLAGS_OFFSET / 2;
// The views read the host's byte order; the format is little-endian, as every host Node runs on here.
assert(
  endianness() === 'LE' && Number.isInteger(SLOT_U32) && Number.isInteger(EXTENT_U16) && Number.isInteger(FLAGS_U16),
  'directory entries map onto aligned little-endian views',
);

/** u32 and u16 views over a buffer of entries (copied to an aligned buffer when it is not aligned). */
function entryViews(body: Buffer): { u32: Uint32Array; u16: Uint16Array } {
  const aligned = body.byteOffset % 4 === 0 ? body : Buffer.from(body);
  return {
    u32: new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4),
    u16: new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2),
  };
}

/** One track's pointer, as plain numbers. */
export interface DirectoryEntry {
  readonly slot: number;
  readonly extentBytes: number;
  readonly flags: number;
}

/** True when the file at `path` starts with the directory magic (a mapped volume). */
export function isDirectoryFile(path: string): boolean {
  if (!existsSync(path)) return false;
  let fd = -1;
  try {
    // Without blocking: a FIFO at the path is not a directory file (and openImage refuses it).
    fd = openRegularFile(path, 'the track directory').fd;
    const head = Buffer.alloc(DIRECTORY_MAGIC.length);
    return readAtMost(fd, head, 0, path, 'the directory header') === head.length && head.toString('latin1') === DIRECTORY_MAGIC;
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function corrupt(path: string, problem: string, offset: number): never {
  throw new ImageFormatError(`Cannot open the mapped volume ${path}: ${problem}`, { path, offset });
}

export class TrackDirectory {
  // Set once.
  readonly path: string;
  readonly geometry: CkdGeometry;
  readonly readOnly: boolean;
  // Main thread only (entries are the authoritative pointers while the volume is open).
  readonly slots: Uint32Array;
  readonly extents: Uint16Array;
  readonly flags: Uint16Array;
  private fd: number;

  private constructor(path: string, fd: number, geometry: CkdGeometry, readOnly: boolean, body: Buffer) {
    this.path = path;
    this.fd = fd;
    this.geometry = geometry;
    this.readOnly = readOnly;
    const n = geometry.trackCount;
    this.slots = new Uint32Array(n);
    this.extents = new Uint16Array(n);
    this.flags = new Uint16Array(n);
    // Typed-array views instead of a readUInt per field: a 3390-9 has 150,255 entries, and the
    // directory is read on every open and by every snapshot, which must stay instant.
    const { u32, u16 } = entryViews(body);
    for (let t = 0; t < n; t++) {
      this.slots[t] = u32[t * U32_PER_ENTRY + SLOT_U32] as number;
      this.extents[t] = u16[t * U16_PER_ENTRY + EXTENT_U16] as number;
      this.flags[t] = u16[t * U16_PER_ENTRY + FLAGS_U16] as number;
    }
  }

  /** Writes a new directory with every track unallocated (temp file + rename: never half made). */
  static create(path: string, geometry: CkdGeometry, options: { force?: boolean } = {}): void {
    if (existsSync(path) && !options.force) throw new TargetExistsError(`Cannot create ${path}: the file exists (use --force to replace it)`, { path });
    const header = encodeFields(DIRECTORY_HEADER_LAYOUT, {
      magic: DIRECTORY_MAGIC,
      version: SUBSYSTEM_FORMAT_VERSION,
      typeName: geometry.typeName,
      cylinders: geometry.cylinders,
      heads: geometry.heads,
      trackCount: geometry.trackCount,
      slotBytes: geometry.trackSlotBytes,
    });
    const body = Buffer.alloc(geometry.trackCount * DIRECTORY_ENTRY_BYTES);
    const { u32 } = entryViews(body);
    for (let t = 0; t < geometry.trackCount; t++) u32[t * U32_PER_ENTRY + SLOT_U32] = UNALLOCATED_SLOT;
    durableReplace(path, Buffer.concat([header, body]), `create ${path}`);
  }

  /** Opens and checks a directory against the pool's family and slot size. */
  static open(path: string, family: CkdFamily, options: { readOnly: boolean }): TrackDirectory {
    // A regular file only: a FIFO among the pins or in a volume's place would hang the open.
    const { fd, sizeBytes } = openRegularFile(path, 'the track directory', !options.readOnly);
    try {
      const head = Buffer.alloc(DIRECTORY_HEADER_LAYOUT.size);
      if (readAtMost(fd, head, 0, path, 'the directory header') < head.length)
        corrupt(path, `${sizeBytes} bytes is shorter than the ${DIRECTORY_HEADER_LAYOUT.size}-byte header`, sizeBytes);
      const f = decodeFields(DIRECTORY_HEADER_LAYOUT, head);
      if (str(f, 'magic') !== DIRECTORY_MAGIC) corrupt(path, `it does not start with "${DIRECTORY_MAGIC}"`, 0);
      const versionAt = field(DIRECTORY_HEADER_LAYOUT, 'version').offset;
      if (num(f, 'version') !== SUBSYSTEM_FORMAT_VERSION)
        corrupt(path, `format version ${num(f, 'version')} at offset ${versionAt} is not ${SUBSYSTEM_FORMAT_VERSION}`, versionAt);
      const cylAt = field(DIRECTORY_HEADER_LAYOUT, 'cylinders').offset;
      const cylinders = num(f, 'cylinders');
      if (
        num(f, 'heads') !== family.heads ||
        num(f, 'slotBytes') !== family.trackSlotBytes ||
        cylinders < 1 ||
        num(f, 'trackCount') !== cylinders * family.heads
      ) {
        corrupt(
          path,
          `header says ${cylinders} cylinders x ${num(f, 'heads')} heads = ${num(f, 'trackCount')} tracks of ${num(f, 'slotBytes')} bytes at offset ${cylAt}, which is not a ${family.family} volume of this pool`,
          cylAt,
        );
      }
      const geometry = ckdGeometry(family, cylinders);
      const bodyBytes = geometry.trackCount * DIRECTORY_ENTRY_BYTES;
      if (sizeBytes !== DIRECTORY_HEADER_LAYOUT.size + bodyBytes)
        corrupt(path, `${sizeBytes} bytes, expected ${DIRECTORY_HEADER_LAYOUT.size + bodyBytes} for ${geometry.trackCount} entries (truncated?)`, sizeBytes);
      const body = Buffer.alloc(bodyBytes);
      if (readAtMost(fd, body, DIRECTORY_HEADER_LAYOUT.size, path, 'the entries') < bodyBytes) corrupt(path, 'the entries end early', sizeBytes);
      return new TrackDirectory(path, fd, geometry, options.readOnly, body);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** The whole file as it is now, read through this directory's own descriptor (never by its path again). */
  fileBytes(): Buffer {
    const bytes = Buffer.alloc(DIRECTORY_HEADER_LAYOUT.size + this.geometry.trackCount * DIRECTORY_ENTRY_BYTES);
    readFully(this.fd, bytes, 0, this.path, 'the track directory');
    return bytes;
  }

  entry(trackIndex: number): DirectoryEntry {
    return { slot: this.slots[trackIndex] as number, extentBytes: this.extents[trackIndex] as number, flags: this.flags[trackIndex] as number };
  }

  private encodeEntry(trackIndex: number): Buffer {
    const out = Buffer.alloc(DIRECTORY_ENTRY_BYTES);
    out.writeUInt32LE(this.slots[trackIndex] as number, ENTRY_SLOT_OFFSET);
    out.writeUInt16LE(this.extents[trackIndex] as number, ENTRY_EXTENT_OFFSET);
    out.writeUInt16LE(this.flags[trackIndex] as number, ENTRY_FLAGS_OFFSET);
    return out;
  }

  /** Sets one entry in memory and writes its 8 bytes. */
  set(trackIndex: number, entry: DirectoryEntry): void {
    this.slots[trackIndex] = entry.slot;
    this.extents[trackIndex] = entry.extentBytes;
    this.flags[trackIndex] = entry.flags;
    writeFully(
      this.fd,
      this.encodeEntry(trackIndex),
      DIRECTORY_HEADER_LAYOUT.size + trackIndex * DIRECTORY_ENTRY_BYTES,
      this.path,
      `the entry of track ${trackIndex}`,
    );
  }

  /** Writes entries first..first+count-1 from memory in one call (a snapshot's pointer copy). */
  writeRange(firstTrack: number, trackCount: number): void {
    const out = Buffer.alloc(trackCount * DIRECTORY_ENTRY_BYTES);
    const { u32, u16 } = entryViews(out);
    for (let i = 0; i < trackCount; i++) {
      const t = firstTrack + i;
      u32[i * U32_PER_ENTRY + SLOT_U32] = this.slots[t] as number;
      u16[i * U16_PER_ENTRY + EXTENT_U16] = this.extents[t] as number;
      u16[i * U16_PER_ENTRY + FLAGS_U16] = this.flags[t] as number;
    }
    writeFully(
      this.fd,
      out,
      DIRECTORY_HEADER_LAYOUT.size + firstTrack * DIRECTORY_ENTRY_BYTES,
      this.path,
      `entries ${firstTrack}-${firstTrack + trackCount - 1}`,
    );
  }

  sync(): void {
    if (!this.readOnly) ioSync(this.fd, this.path);
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}
