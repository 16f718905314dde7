/**
 * One CCKD file (a base `CKD_C370` or a shadow `CKD_S370`): its tables in memory, its track images
 * read and written one track at a time. `CckdBackend` stacks these (base plus shadows) behind the
 * `ImageBackend` contract. Layout: native-layout/cckd-header.md, cckd-tables.md.
 *
 * Writing: a new image is compressed and written into free space (first fit) or at the end of the
 * file, and its L2 entry changes in memory; the old image's space is released only at the next
 * flush, after the L2 tables on disk stop pointing at it. `flush` writes the dirty L2 tables, the
 * L1 table, the free chain and the header, in that order. The opened bit (0x80) is set on disk
 * before the first write and cleared by `close`, so a crash shows as "not closed" to cckdcdsk and
 * to `snaptape check`.
 *
 * Invariants: every L2 entry points at space no other entry or table uses; the header's space
 * statistics equal what the tables imply after every flush (cckdcdsk finds no errors).
 */
import { closeSync, fsyncSync, ftruncateSync, openSync } from 'node:fs';
import { fileIdentity, openRegularFile, requireSameFile, writeFully, type FileIdentity } from '../base/file-io.js';
import { assert } from '../base/assert.js';
import { decodeFields, encodeFields, num } from '../base/field-table.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { cchhOf } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import { analyseCckd, readAt, type CckdAnalysis } from './cckd-analysis.js';
import { compressBody, compressionName, decompressBody } from './cckd-compression.js';
import { encodeCckdDeviceHeader, encodeCckdHeader, newCckdHeader, type CckdHeader } from './cckd-header.js';
import {
  CCKD_COMPRESSION,
  CCKD_FREE_BLOCK_LAYOUT,
  CCKD_HEADER_OFFSET,
  CCKD_L1_ENTRY_BYTES,
  CCKD_L1_OFFSET,
  CCKD_L2_ENTRIES,
  CCKD_L2_TABLE_BYTES,
  CCKD_LAYOUTS_BE,
  CCKD_NOT_HERE,
  CCKD_OPTION,
  CCKD_TRACK_HEADER_LAYOUT,
  type CckdCompression,
} from './cckd-layouts.js';
import { NULL_FORMAT, nullEntryFormat, nullFormatOf, nullTrackImage } from './cckd-null-track.js';
import { FreeSpaceMap } from './cckd-space.js';
import { emptyL2Table, encodeL1, encodeL2, type L2Table } from './cckd-tables.js';

/** What one file says about a track. */
export type StoredTrack =
  | { readonly kind: 'below' }
  | { readonly kind: 'null'; readonly format: number }
  | { readonly kind: 'image'; readonly offset: number; readonly length: number };

export interface CckdCreateOptions {
  readonly geometry: CkdGeometry;
  readonly compression: CckdCompression;
  readonly shadow?: boolean;
  /** Null format of tracks never written (1: HA R0 EOT, what dasdinit writes). */
  readonly nullFormat?: number;
}

const TRACK_HEADER_BYTES = CCKD_TRACK_HEADER_LAYOUT.size;
/** "Use the default level" in the compression parameter (Hercules writes -1). */
const DEFAULT_COMPRESSION_PARAMETER = 0xffff;

export class CckdFile {
  // Set once.
  readonly path: string;
  readonly geometry: CkdGeometry;
  readonly shadow: boolean;
  readonly readOnly: boolean;
  private readonly bigEndian: boolean;
  // Main thread only.
  private fd: number;
  private header: CckdHeader;
  private readonly l1: Uint32Array;
  private readonly l2: Array<L2Table | undefined>;
  private readonly dirtyL2 = new Set<number>();
  private dirty = false;
  private openedOnDisk = false;
  private readonly space: FreeSpaceMap;
  private compression: CckdCompression;

  private constructor(fd: number, analysis: CckdAnalysis, readOnly: boolean) {
    this.fd = fd;
    this.path = analysis.path;
    this.geometry = analysis.geometry;
    this.shadow = analysis.shadow;
    this.readOnly = readOnly;
    this.bigEndian = analysis.bigEndian;
    this.header = analysis.header;
    this.l1 = analysis.l1;
    this.l2 = [...analysis.l2];
    this.space = new FreeSpaceMap(analysis.gaps, analysis.fileBytes);
    this.compression = compressionName(analysis.header.compression) ?? 'zlib';
  }

  /** Opens a file after checking it on a read-only descriptor; a damaged file is never written. */
  static open(path: string, options: { readOnly: boolean }): CckdFile {
    let fd = openRegularFile(path, 'the image').fd;
    const analysis = CckdFile.checked(path, fd, options.readOnly);
    if (!options.readOnly) {
      // Opened again by its name, where whoever can write the folder may have put another file
      // since: only the file checked is written (file-io.ts requireSameFile).
      let checked: FileIdentity;
      try {
        checked = fileIdentity(fd, path, 'the image');
      } finally {
        closeSync(fd);
      }
      try {
        fd = openSync(path, 'r+');
      } catch (error) {
        throw translateIoError(error, `open ${path} for writing`, path);
      }
      try {
        requireSameFile(fd, checked, path, 'the image', 'its open checked');
      } catch (error) {
        closeSync(fd);
        throw error;
      }
    }
    return new CckdFile(fd, analysis, options.readOnly);
  }

  /**
   * Opens for writing the file held as `fd` (open for reading and writing), checked as `open`
   * checks it, and taking the descriptor over (closed with the file, or on a refusal): written
   * through `fd` only, never reopened by `path`, which another may have put a link at meanwhile.
   */
  static openDescriptor(path: string, fd: number): CckdFile {
    return new CckdFile(fd, CckdFile.checked(path, fd, false), false);
  }

  /** The analysis of the file open as `fd`, or (`fd` closed) the error of a file that is not to be opened so. */
  private static checked(path: string, fd: number, readOnly: boolean): CckdAnalysis {
    let analysis: CckdAnalysis;
    try {
      analysis = analyseCckd(path, fd);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    const fatal = analysis.problems.find((p) => p.kind === 'table' || (!readOnly && (p.kind === 'free-space' || p.kind === 'statistics')));
    if (fatal) {
      closeSync(fd);
      const why = fatal.kind === 'table' ? '' : ' (snaptape check --repair rebuilds the free space)';
      throw new ImageFormatError(`Cannot open ${path}${readOnly ? '' : ' for writing'}: ${fatal.message}${why}`, {
        path,
        offset: fatal.offset,
        ...(fatal.track !== undefined ? { track: fatal.track } : {}),
      });
    }
    return analysis;
  }

  /** Writes a new, empty file (every track null) and returns it open for writing. */
  static create(path: string, fd: number, options: CckdCreateOptions): CckdFile {
    const g = options.geometry;
    const l1Entries = Math.ceil(g.trackCount / CCKD_L2_ENTRIES);
    const l1End = CCKD_L1_OFFSET + l1Entries * CCKD_L1_ENTRY_BYTES;
    const header = newCckdHeader({
      cylinders: g.cylinders,
      l1Entries,
      fileBytes: l1End,
      nullFormat: options.nullFormat ?? NULL_FORMAT.EMPTY,
      compression: CCKD_COMPRESSION[options.compression],
      compressionParameter: DEFAULT_COMPRESSION_PARAMETER,
    });
    const l1 = new Uint32Array(l1Entries).fill(options.shadow ? CCKD_NOT_HERE : 0);
    const device = encodeCckdDeviceHeader({
      shadow: options.shadow ?? false,
      heads: g.heads,
      trackSlotBytes: g.trackSlotBytes,
      devtypeByte: g.family.devtypeByte,
    });
    const bytes = Buffer.concat([device, encodeCckdHeader(header), encodeL1(l1, false)]);
    writeFully(fd, bytes, 0, path);
    ftruncateSync(fd, bytes.length);
    const analysis: CckdAnalysis = {
      path,
      shadow: options.shadow ?? false,
      bigEndian: false,
      geometry: g,
      header,
      l1,
      l2: new Array<undefined>(l1Entries).fill(undefined),
      fileBytes: bytes.length,
      gaps: [],
      imbeddedBytes: 0,
      problems: [],
    };
    const file = new CckdFile(fd, analysis, false);
    file.compression = options.compression;
    return file;
  }

  get compressionInUse(): CckdCompression {
    return this.compression;
  }

  /** Changes the compression of images written from now on (and the header's default). */
  setCompression(compression: CckdCompression): void {
    this.compression = compression;
    this.header = { ...this.header, compression: CCKD_COMPRESSION[compression] };
    this.dirty = true;
  }

  /** Where track t is in this file. */
  lookup(trackIndex: number): StoredTrack {
    const l1Index = Math.floor(trackIndex / CCKD_L2_ENTRIES);
    const l2Offset = this.l1[l1Index] as number;
    const table = this.l2[l1Index];
    if (!table) {
      if (l2Offset === CCKD_NOT_HERE && this.shadow) return { kind: 'below' };
      return { kind: 'null', format: this.header.nullFormat };
    }
    const j = trackIndex % CCKD_L2_ENTRIES;
    const offset = table.offsets[j] as number;
    if (offset === CCKD_NOT_HERE) return this.shadow ? { kind: 'below' } : { kind: 'null', format: this.header.nullFormat };
    if (offset === 0) return { kind: 'null', format: nullEntryFormat(table.lengths[j] as number, this.header.nullFormat) };
    return { kind: 'image', offset, length: table.lengths[j] as number };
  }

  /** Track t's image (HA through EOT, as stored: no padding), or undefined when a lower file has it. */
  readTrack(trackIndex: number): Buffer | undefined {
    const where = this.lookup(trackIndex);
    if (where.kind === 'below') return undefined;
    const cchh = cchhOf(this.geometry, trackIndex);
    if (where.kind === 'null') return nullTrackImage(cchh, where.format);
    const stored = readAt(this.fd, this.path, where.length, where.offset);
    const h = decodeFields(CCKD_TRACK_HEADER_LAYOUT, stored);
    if (num(h, 'cylinder') !== cchh.cylinder || num(h, 'head') !== cchh.head) {
      throw new ImageFormatError(
        `Cannot read track ${trackIndex} of ${this.path}: the image at byte offset ${where.offset} is for cylinder ${num(h, 'cylinder')} head ${num(h, 'head')}`,
        { path: this.path, track: trackIndex, offset: where.offset },
      );
    }
    const body = decompressBody(stored.subarray(TRACK_HEADER_BYTES), num(h, 'compression'), this.geometry.trackSlotBytes - TRACK_HEADER_BYTES, {
      path: this.path,
      trackIndex,
      offsetBytes: where.offset,
    });
    const image = Buffer.alloc(TRACK_HEADER_BYTES + body.length);
    stored.copy(image, 0, 0, TRACK_HEADER_BYTES);
    image[0] = 0; // The compression byte takes the place of the home address's flag byte.
    body.copy(image, TRACK_HEADER_BYTES);
    return image;
  }

  /** Stores track t's image (HA through EOT, at most a slot): null tracks as L2 entries only. */
  writeTrack(trackIndex: number, image: Buffer): void {
    assert(!this.readOnly, `${this.path} is open for writing`);
    assert(image.length >= TRACK_HEADER_BYTES && image.length <= this.geometry.trackSlotBytes, 'a track image fits its slot');
    this.markOpened();
    const cchh = cchhOf(this.geometry, trackIndex);
    const table = this.tableFor(trackIndex);
    const j = trackIndex % CCKD_L2_ENTRIES;
    const nullFormat = nullFormatOf(image, cchh, this.header.nullFormat);
    let entry: { offset: number; length: number; size: number };
    if (nullFormat !== undefined) {
      entry = { offset: 0, length: nullFormat, size: nullFormat };
    } else {
      const { code, bytes } = compressBody(image.subarray(TRACK_HEADER_BYTES), this.compression, this.header.compressionParameter);
      const head = encodeFields(CCKD_TRACK_HEADER_LAYOUT, { compression: code, cylinder: cchh.cylinder, head: cchh.head });
      const length = TRACK_HEADER_BYTES + bytes.length;
      const offset = this.space.allocate(length);
      writeFully(this.fd, Buffer.concat([head, bytes]), offset, this.path);
      entry = { offset, length, size: length };
    }
    const oldOffset = table.offsets[j] as number;
    if (oldOffset !== 0 && oldOffset !== CCKD_NOT_HERE) this.space.release({ offset: oldOffset, length: table.sizes[j] as number });
    table.offsets[j] = entry.offset;
    table.lengths[j] = entry.length;
    table.sizes[j] = entry.size;
    this.dirtyL2.add(Math.floor(trackIndex / CCKD_L2_ENTRIES));
    this.dirty = true;
  }

  /** The L2 table of track t, made (and placed in the file) if the file has none yet. */
  private tableFor(trackIndex: number): L2Table {
    const l1Index = Math.floor(trackIndex / CCKD_L2_ENTRIES);
    const existing = this.l2[l1Index];
    if (existing) return existing;
    const below = this.shadow && this.l1[l1Index] === CCKD_NOT_HERE;
    const table = emptyL2Table(below);
    if (!below) {
      // A missing table meant "every track null in the header's format".
      table.lengths.fill(this.header.nullFormat);
      table.sizes.fill(this.header.nullFormat);
    }
    const offset = this.space.allocate(CCKD_L2_TABLE_BYTES);
    this.l1[l1Index] = offset;
    this.l2[l1Index] = table;
    this.dirtyL2.add(l1Index);
    return table;
  }

  private markOpened(): void {
    if (this.openedOnDisk) return;
    this.header = { ...this.header, options: this.header.options | CCKD_OPTION.OPENED | CCKD_OPTION.OPENED_RW };
    writeFully(this.fd, encodeCckdHeader(this.header), CCKD_HEADER_OFFSET, this.path);
    this.openedOnDisk = true;
  }

  /** Writes the tables, the free chain and the header; `closing` clears the opened bit. */
  flush(closing = false): void {
    if (this.readOnly || (!this.dirty && !this.openedOnDisk)) return;
    for (const l1Index of [...this.dirtyL2].sort((a, b) => a - b)) {
      const table = this.l2[l1Index];
      assert(table !== undefined, 'a dirty L2 table exists');
      writeFully(this.fd, encodeL2(table, this.bigEndian), this.l1[l1Index] as number, this.path);
    }
    this.dirtyL2.clear();
    writeFully(this.fd, encodeL1(this.l1, this.bigEndian), CCKD_L1_OFFSET, this.path);
    // The tables on disk no longer point at released space: it may now be reused.
    this.space.commit();
    const extents = this.space.extents();
    const freeLayout = this.bigEndian ? CCKD_LAYOUTS_BE.freeBlock : CCKD_FREE_BLOCK_LAYOUT;
    extents.forEach((e, i) => {
      writeFully(this.fd, encodeFields(freeLayout, { nextOffset: extents[i + 1]?.offset ?? 0, lengthBytes: e.length }), e.offset, this.path);
    });
    const stats = this.space.stats();
    const imbedded = this.imbeddedBytes();
    const fileBytes = this.space.fileBytes;
    this.header = {
      ...this.header,
      options: closing ? this.header.options & ~CCKD_OPTION.OPENED : this.header.options,
      fileBytes,
      usedBytes: fileBytes - stats.totalBytes - imbedded,
      freeOffset: extents[0]?.offset ?? 0,
      freeTotalBytes: stats.totalBytes + imbedded,
      freeLargestBytes: stats.largestBytes,
      freeCount: stats.count,
      freeImbeddedBytes: imbedded,
    };
    try {
      ftruncateSync(this.fd, fileBytes);
    } catch (error) {
      throw translateIoError(error, `truncate ${this.path}`, this.path);
    }
    writeFully(this.fd, encodeCckdHeader(this.header), CCKD_HEADER_OFFSET, this.path);
    if (closing) this.openedOnDisk = false;
    this.dirty = false;
  }

  private imbeddedBytes(): number {
    let total = 0;
    for (const table of this.l2) {
      if (!table) continue;
      for (let j = 0; j < CCKD_L2_ENTRIES; j++) {
        const offset = table.offsets[j] as number;
        if (offset !== 0 && offset !== CCKD_NOT_HERE) total += (table.sizes[j] as number) - (table.lengths[j] as number);
      }
    }
    return total;
  }

  sync(): void {
    if (this.readOnly) return;
    this.flush();
    try {
      fsyncSync(this.fd);
    } catch (error) {
      throw translateIoError(error, `flush ${this.path}`, this.path);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      if (!this.readOnly) {
        this.flush(true);
        fsyncSync(this.fd);
      }
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  /** Tracks this file holds an image or null entry for (not "below"). */
  heldTracks(): number[] {
    const out: number[] = [];
    for (let t = 0; t < this.geometry.trackCount; t++) if (this.lookup(t).kind !== 'below') out.push(t);
    return out;
  }
}
