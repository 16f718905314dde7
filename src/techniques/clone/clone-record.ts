/**
 * The persisted state of a clone session, beside its destination image:
 * - `<target>.clone.json`: the record (phase, OP, OP STATUS, time stamps, counts), for `clone status`;
 * - `<target>.clone.bitmap`: a 32-byte header and the session's CLONE PB, PRECOPY PB and IND columns
 *   (native-layout/clone-bitmap.md; header table `clone-bitmap-header.json`).
 * Both are written atomically (temp file + rename) at every phase change and at checkpoints while
 * the copy runs; the record is written after the bitmap. `complete` is true only once every track
 * was copied (phase copied or terminated), so an interrupted clone is never reported complete.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { decodeFields, defineLayout, encodeFields, num, str } from '../../base/field-table.js';
import { translateIoError } from '../../errors/io-error.js';
import { SessionError } from '../../errors/snaptape-error.js';
import { CLONE_PHASES, type ClonePhase, type CloneOp, type CloneOpStatus } from './clone-phase.js';

export const CLONE_BITMAP_HEADER_LAYOUT = defineLayout({
  name: 'clone-bitmap-header',
  size: 32,
  fill: 0,
  fields: [
    { name: 'magic', offset: 0, length: 8, kind: 'ascii', description: '"SNAPCLON"' },
    { name: 'version', offset: 8, length: 4, kind: 'u32le', description: 'Format version (1)' },
    { name: 'unitCount', offset: 12, length: 4, kind: 'u32le', description: 'Tracks (CKD) or blocks (FBA) of the source' },
    { name: 'columnCount', offset: 16, length: 4, kind: 'u32le', description: 'Columns that follow (3: CLONE PB, PRECOPY PB, IND)' },
    { name: 'bytesPerColumn', offset: 20, length: 4, kind: 'u32le', description: '4 x ceil(unitCount / 32)' },
    { name: 'phase', offset: 24, length: 4, kind: 'u32le', description: 'Index of the phase in CLONE_PHASES when written' },
  ],
});

const MAGIC = 'SNAPCLON';
const VERSION = 1;
/** The persisted columns, in file order. */
export const PERSISTED_COLUMNS = ['clonePb', 'precopyPb', 'ind'] as const;

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
  readonly tracksTotal: number;
  readonly tracksLeft: number;
  readonly recopies: number;
  /** True only when every track is on the destination. */
  readonly complete: boolean;
  readonly reason?: string;
}

export function cloneRecordPath(targetPath: string): string {
  return `${targetPath}.clone.json`;
}

export function cloneBitmapPath(targetPath: string): string {
  return `${targetPath}.clone.bitmap`;
}

function writeAtomically(path: string, data: string | Uint8Array): void {
  try {
    writeFileSync(`${path}.tmp`, data);
    renameSync(`${path}.tmp`, path);
  } catch (error) {
    throw translateIoError(error, 'persist the clone session', path);
  }
}

/** Encodes the bitmap file: header, then each column's words as u32 little-endian. */
export function encodeCloneBitmap(unitCount: number, phase: ClonePhase, columns: readonly Int32Array[]): Buffer {
  const bytesPerColumn = (columns[0]?.length ?? 0) * 4;
  const header = encodeFields(CLONE_BITMAP_HEADER_LAYOUT, {
    magic: MAGIC, version: VERSION, unitCount, columnCount: columns.length, bytesPerColumn, phase: CLONE_PHASES.indexOf(phase),
  });
  const body = Buffer.alloc(columns.length * bytesPerColumn);
  columns.forEach((words, c) => words.forEach((w, i) => body.writeInt32LE(w, c * bytesPerColumn + i * 4)));
  return Buffer.concat([header, body]);
}

export interface DecodedCloneBitmap {
  readonly unitCount: number;
  readonly phase: ClonePhase;
  /** `test(column, unit)` over the persisted columns. */
  test(column: number, unit: number): boolean;
  count(column: number): number;
}

export function decodeCloneBitmap(data: Buffer, path: string): DecodedCloneBitmap {
  const bad = (why: string): never => {
    throw new SessionError(`Cannot read the clone bitmap ${path}: ${why}`, { path });
  };
  if (data.length < CLONE_BITMAP_HEADER_LAYOUT.size) bad(`it has ${data.length} bytes, less than its header`);
  const header = decodeFields(CLONE_BITMAP_HEADER_LAYOUT, data);
  if (str(header, 'magic') !== MAGIC || num(header, 'version') !== VERSION) bad('bad magic or version');
  const unitCount = num(header, 'unitCount');
  const columnCount = num(header, 'columnCount');
  const bytesPerColumn = num(header, 'bytesPerColumn');
  if (bytesPerColumn !== 4 * Math.ceil(unitCount / 32) || data.length !== CLONE_BITMAP_HEADER_LAYOUT.size + columnCount * bytesPerColumn) bad('its sizes disagree');
  const phase = CLONE_PHASES[num(header, 'phase')] ?? bad('unknown phase');
  const test = (column: number, unit: number): boolean => {
    const word = data.readInt32LE(CLONE_BITMAP_HEADER_LAYOUT.size + column * bytesPerColumn + Math.floor(unit / 32) * 4);
    return (word & (1 << (unit % 32))) !== 0;
  };
  const count = (column: number): number => {
    let n = 0;
    for (let u = 0; u < unitCount; u++) if (test(column, u)) n++;
    return n;
  };
  return { unitCount, phase, test, count };
}

export function writeCloneRecord(record: CloneRecord, bitmap: Buffer): void {
  writeAtomically(cloneBitmapPath(record.target), bitmap);
  writeAtomically(cloneRecordPath(record.target), `${JSON.stringify(record, null, 2)}\n`);
}

export function readCloneRecord(targetPath: string): CloneRecord | undefined {
  const path = cloneRecordPath(targetPath);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CloneRecord;
  } catch (error) {
    throw translateIoError(error, 'read the clone record', path);
  }
}

export function readCloneBitmap(targetPath: string): DecodedCloneBitmap | undefined {
  const path = cloneBitmapPath(targetPath);
  if (!existsSync(path)) return undefined;
  return decodeCloneBitmap(readFileSync(path), path);
}
