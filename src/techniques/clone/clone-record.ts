/**
 * The persisted state of a clone session, beside its destination image:
 * - `<target>.clone.json`: the record (phase, OP, OP STATUS, time stamps, counts), for `clone status`;
 * - `<target>.clone.bitmap`: a 32-byte header and the session's CLONE PB, PRECOPY PB, IND and PART
 *   columns (native-layout/clone-bitmap.md; header table `clone-bitmap-header.json`).
 * The record is written durably (durable-replace.ts) at every phase change and at checkpoints.
 * The bitmap is made once by CREATE (the same way) and from then on updated in place through
 * one descriptor (clone-bitmap-file.ts): a bit that a host write sets is on file before the write
 * goes ahead (version 2). `complete` is true only once every track was copied (phase copied or
 * terminated), so an interrupted clone is never reported complete.
 */
import { closeSync, existsSync } from 'node:fs';
import { openRegularFile, readFully, readRegularFileText } from '../../base/file-io.js';
import { decodeFields, defineLayout, encodeFields, num, str } from '../../base/field-table.js';
import { translateIoError } from '../../errors/io-error.js';
import { durableReplace } from '../../image/durable-replace.js';
import { SessionError } from '../../errors/snaptape-error.js';
import { CLONE_PHASES, type ClonePhase, type CloneOp, type CloneOpStatus } from './clone-phase.js';

export const CLONE_BITMAP_HEADER_LAYOUT = defineLayout({
  name: 'clone-bitmap-header',
  size: 32,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'ascii', description: '"SNAPCLON"' },
    { name: 'version', offset: 8, length: 4, kind: 'u32le', description: 'Format version (2: updated in place before host writes; 1: checkpoints only)' },
    { name: 'unitCount', offset: 12, length: 4, kind: 'u32le', description: 'Tracks (CKD) or blocks (FBA) of the source' },
    { name: 'columnCount', offset: 16, length: 4, kind: 'u32le', description: 'Columns that follow (4: CLONE PB, PRECOPY PB, IND, PART; 3 in version 1)' },
    { name: 'bytesPerColumn', offset: 20, length: 4, kind: 'u32le', description: '4 x ceil(unitCount / 32)' },
    { name: 'phase', offset: 24, length: 4, kind: 'u32le', description: 'Index of the phase in CLONE_PHASES when written' },
  ],
});

const MAGIC = 'SNAPCLON';
/** Version 2: the bits are durable before each host write, and PART is persisted, so a session can resume. */
export const CLONE_BITMAP_VERSION = 2;
/** Version 1 (checkpoints only) is still read, for `clone status`; it cannot be resumed. */
const READABLE_VERSIONS: ReadonlySet<number> = new Set([1, CLONE_BITMAP_VERSION]);
/** The persisted columns, in file order (version 1 has the first three). */
export const PERSISTED_COLUMNS = ['clonePb', 'precopyPb', 'ind', 'part'] as const;
export type PersistedColumn = (typeof PERSISTED_COLUMNS)[number];
/** A persisted column's index in the file. */
export const FILE_COLUMN: Readonly<Record<PersistedColumn, number>> = { clonePb: 0, precopyPb: 1, ind: 2, part: 3 };

export interface CloneRecord {
  readonly kind: 'clone';
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly phase: ClonePhase;
  readonly flags: { readonly precopy: boolean; readonly active: boolean };
  readonly op: CloneOp;
  readonly opStatus: CloneOpStatus;
  /** Time stamp of the last OP. */
  readonly opAt: string;
  readonly createdAt: string;
  readonly activatedAt: string | null;
  readonly updatedAt: string;
  readonly datasets: readonly string[];
  /**
   * Extent mode, when data sets were placed elsewhere on the destination: runs of source tracks
   * and where they go, as [first source track, first destination track, tracks]. Absent: every
   * track goes to the same track.
   */
  readonly relocated?: readonly (readonly [number, number, number])[];
  readonly tracksTotal: number;
  readonly tracksLeft: number;
  readonly recopies: number;
  /** True only when every track is on the destination. */
  readonly complete: boolean;
  readonly reason?: string;
  /** The process that ran the session when the record was written (absent before version 2). */
  readonly owner?: { readonly pid: number; readonly host: string };
}

export function cloneRecordPath(targetPath: string): string {
  return `${targetPath}.clone.json`;
}

export function cloneBitmapPath(targetPath: string): string {
  return `${targetPath}.clone.bitmap`;
}

export function writeAtomically(path: string, data: string | Uint8Array): void {
  durableReplace(path, data, 'persist the clone session');
}

/** Encodes the bitmap file: header, then each column's words as u32 little-endian. */
export function encodeCloneBitmap(unitCount: number, phase: ClonePhase, columns: readonly Int32Array[]): Buffer {
  const bytesPerColumn = (columns[0]?.length ?? 0) * 4;
  const header = encodeFields(CLONE_BITMAP_HEADER_LAYOUT, {
    magic: MAGIC,
    version: CLONE_BITMAP_VERSION,
    unitCount,
    columnCount: columns.length,
    bytesPerColumn,
    phase: CLONE_PHASES.indexOf(phase),
  });
  const body = Buffer.alloc(columns.length * bytesPerColumn);
  columns.forEach((words, c) => words.forEach((w, i) => body.writeInt32LE(w, c * bytesPerColumn + i * 4)));
  return Buffer.concat([header, body]);
}

export interface DecodedCloneBitmap {
  readonly version: number;
  readonly unitCount: number;
  readonly columnCount: number;
  readonly phase: ClonePhase;
  /** `test(column, unit)` over the persisted columns. */
  test(column: number, unit: number): boolean;
  /** A column's words, as stored. */
  words(column: number): Int32Array;
}

interface CloneBitmapShape {
  readonly version: number;
  readonly unitCount: number;
  readonly columnCount: number;
  readonly bytesPerColumn: number;
  readonly phase: ClonePhase;
}

function badBitmap(path: string, why: string): never {
  throw new SessionError(`Cannot read the clone bitmap ${path}: ${why}`, { path });
}

/** What the header in `data` says, checked against itself and against the file's size. */
function cloneBitmapShape(data: Buffer, fileBytes: number, path: string): CloneBitmapShape {
  const bad = (why: string): never => badBitmap(path, why);
  if (fileBytes < CLONE_BITMAP_HEADER_LAYOUT.size) bad(`it has ${fileBytes} bytes, less than its header`);
  const header = decodeFields(CLONE_BITMAP_HEADER_LAYOUT, data);
  const version = num(header, 'version');
  if (str(header, 'magic') !== MAGIC || !READABLE_VERSIONS.has(version)) bad('bad magic or version');
  const unitCount = num(header, 'unitCount');
  const columnCount = num(header, 'columnCount');
  const bytesPerColumn = num(header, 'bytesPerColumn');
  if (columnCount !== (version === 1 ? 3 : PERSISTED_COLUMNS.length))
    bad(`version ${version} has ${version === 1 ? 3 : PERSISTED_COLUMNS.length} columns, not ${columnCount}`);
  if (bytesPerColumn !== 4 * Math.ceil(unitCount / 32) || fileBytes !== CLONE_BITMAP_HEADER_LAYOUT.size + columnCount * bytesPerColumn)
    bad('its sizes disagree');
  const phase = CLONE_PHASES[num(header, 'phase')] ?? bad('unknown phase');
  return { version, unitCount, columnCount, bytesPerColumn, phase };
}

export function decodeCloneBitmap(data: Buffer, path: string): DecodedCloneBitmap {
  const { version, unitCount, columnCount, bytesPerColumn, phase } = cloneBitmapShape(data, data.length, path);
  const test = (column: number, unit: number): boolean => {
    const word = data.readInt32LE(CLONE_BITMAP_HEADER_LAYOUT.size + column * bytesPerColumn + Math.floor(unit / 32) * 4);
    return (word & (1 << (unit % 32))) !== 0;
  };
  const words = (column: number): Int32Array => {
    const start = CLONE_BITMAP_HEADER_LAYOUT.size + column * bytesPerColumn;
    return Int32Array.from({ length: bytesPerColumn / 4 }, (_, i) => data.readInt32LE(start + i * 4));
  };
  return { version, unitCount, columnCount, phase, test, words };
}

/** Writes the record (the bitmap is written before it, in place, by clone-bitmap-file.ts). */
export function writeCloneRecord(record: CloneRecord): void {
  writeAtomically(cloneRecordPath(record.target), `${JSON.stringify(record, null, 2)}\n`);
}

export function readCloneRecord(targetPath: string): CloneRecord | undefined {
  const path = cloneRecordPath(targetPath);
  if (!existsSync(path)) return undefined;
  const text = readRegularFileText(path, 'the clone record');
  try {
    return JSON.parse(text) as CloneRecord;
  } catch (error) {
    throw translateIoError(error, 'read the clone record', path);
  }
}

/**
 * Opens the clone bitmap at `path` (a regular file only) and checks its header against its size,
 * before reading more than the header; `body` gets the descriptor and the checked shape.
 */
function withCloneBitmapFile<T>(path: string, body: (fd: number, shape: CloneBitmapShape) => T): T {
  const { fd, sizeBytes } = openRegularFile(path, 'the clone bitmap');
  try {
    const header = Buffer.alloc(Math.min(sizeBytes, CLONE_BITMAP_HEADER_LAYOUT.size));
    readFully(fd, header, 0, path, 'the clone bitmap');
    return body(fd, cloneBitmapShape(header, sizeBytes, path));
  } finally {
    closeSync(fd);
  }
}

/**
 * The clone bitmap at `path`, read whole for a volume of `unitCount` units: one whose header gives
 * more units is refused unread (its size agreeing with a crafted header would not bound it).
 */
export function readCloneBitmapFile(path: string, unitCount: number): DecodedCloneBitmap {
  return withCloneBitmapFile(path, (fd, shape) => {
    if (shape.unitCount > unitCount) badBitmap(path, `it has ${shape.unitCount} units, more than the ${unitCount} of the volume`);
    const data = Buffer.alloc(CLONE_BITMAP_HEADER_LAYOUT.size + shape.columnCount * shape.bytesPerColumn);
    readFully(fd, data, 0, path, 'the clone bitmap');
    return decodeCloneBitmap(data, path);
  });
}

/** What `clone status` shows of a bitmap: its set bits by column, counted a chunk at a time. */
export interface CloneBitmapCounts {
  readonly version: number;
  readonly unitCount: number;
  /** Set bits of each persisted column in the file (3 in version 1, 4 from version 2). */
  readonly counts: readonly number[];
}

/** Words read at a time by `countCloneBitmap`: memory stays this, whatever the file's size. */
const COUNT_CHUNK_WORDS = 256 * 1024;

/** The set bits of each column of the bitmap beside `targetPath`, in bounded memory; undefined when it has none. */
export function countCloneBitmap(targetPath: string): CloneBitmapCounts | undefined {
  const path = cloneBitmapPath(targetPath);
  if (!existsSync(path)) return undefined;
  return withCloneBitmapFile(path, (fd, { version, unitCount, columnCount, bytesPerColumn }) => {
    const wordsPerColumn = bytesPerColumn / 4;
    const chunk = Buffer.alloc(Math.min(wordsPerColumn, COUNT_CHUNK_WORDS) * 4);
    const counts: number[] = [];
    for (let c = 0; c < columnCount; c++) {
      let n = 0;
      // Bounded: every pass moves `first` on by at least one word.
      for (let first = 0; first < wordsPerColumn; first += chunk.length / 4) {
        const words = Math.min(chunk.length / 4, wordsPerColumn - first);
        const into = chunk.subarray(0, words * 4);
        readFully(fd, into, CLONE_BITMAP_HEADER_LAYOUT.size + c * bytesPerColumn + first * 4, path, 'the clone bitmap');
        for (let i = 0; i < words; i++) {
          const bits = Math.min(32, unitCount - (first + i) * 32);
          const word = into.readUInt32LE(i * 4) & (bits === 32 ? 0xffffffff : (1 << bits) - 1);
          n += popcount32(word);
        }
      }
      counts.push(n);
    }
    return { version, unitCount, counts };
  });
}

function popcount32(word: number): number {
  let v = word >>> 0;
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}
