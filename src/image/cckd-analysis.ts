/**
 * Reads and checks the structure of one CCKD file through a read-only descriptor, the way Hercules
 * `cckdcdsk` does at its levels 0 and 1 (cckdutil.c cckd_chkdsk): the two headers, the L1 table, the
 * L2 tables, the spaces they point at (in bounds, no overlaps), the header's space statistics, and
 * the free-space chain against the gaps the tables leave. Opening uses it (structural damage is an
 * ImageFormatError before anything is written); `snaptape check` reports every problem it finds.
 *
 * Problem kinds: `header` and `table` make the file unreadable; `free-space` and `statistics` leave
 * it readable but not writable until `check --repair` rebuilds them from the tables.
 */
import { fstatSync } from 'node:fs';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { familyByDevtypeByte } from '../geometry/device-types.js';
import { ckdGeometry, type CkdGeometry } from '../geometry/volume-geometry.js';
import { MAX_CKD_CYLINDERS } from '../geometry/device-types.js';
import { CKD_HEADER_BYTES, decodeCkdHeader } from './ckd-image-header.js';
import { CCKD_DEVID_BASE, CCKD_DEVID_SHADOW, decodeCckdHeader, isBigEndian, type CckdHeader } from './cckd-header.js';
import {
  CCKD_FREE_BLOCK_LAYOUT,
  CCKD_HEADER_LAYOUT,
  CCKD_HEADER_OFFSET,
  CCKD_L1_ENTRY_BYTES,
  CCKD_L1_OFFSET,
  CCKD_L2_ENTRIES,
  CCKD_L2_TABLE_BYTES,
  CCKD_NOT_HERE,
  CCKD_OPTION,
  CCKD_TRACK_HEADER_LAYOUT,
} from './cckd-layouts.js';
import { NULL_FORMAT_MAX } from './cckd-null-track.js';
import { FREE_BLOCK_MIN_BYTES, gapsBetween, type Extent } from './cckd-space.js';
import { decodeL1, decodeL2, type L2Table } from './cckd-tables.js';
import { readFully } from '../base/file-io.js';

export type CckdProblemKind = 'header' | 'table' | 'free-space' | 'statistics' | 'track';

export interface CckdProblem {
  readonly kind: CckdProblemKind;
  readonly message: string;
  readonly offset: number;
  readonly track?: number;
}

export interface CckdAnalysis {
  readonly path: string;
  readonly shadow: boolean;
  readonly bigEndian: boolean;
  readonly geometry: CkdGeometry;
  readonly header: CckdHeader;
  readonly l1: Uint32Array;
  readonly l2: ReadonlyArray<L2Table | undefined>;
  readonly fileBytes: number;
  /** Free extents implied by the tables: the gaps between everything they point at. */
  readonly gaps: readonly Extent[];
  readonly imbeddedBytes: number;
  readonly problems: readonly CckdProblem[];
}

/** First bytes of the "new format" free-space array. */
const NEW_FORMAT_MAGIC = 'FREE_BLK';

/** Largest stored image: the track header plus a whole slot stored uncompressed. */
function maxImageBytes(trackSlotBytes: number): number {
  return CCKD_TRACK_HEADER_LAYOUT.size + trackSlotBytes;
}

/** Reads a structure of the CCKD file; a file that ends inside it is damaged (ImageFormatError). */
export function readAt(fd: number, path: string, length: number, position: number): Buffer {
  const out = Buffer.alloc(length);
  readFully(
    fd,
    out,
    position,
    path,
    path,
    (end) =>
      new ImageFormatError(`Cannot read ${path}: the file ends at byte ${end}, inside a structure of ${length} bytes at ${position}`, { path, offset: end }),
  );
  return out;
}

function refuse(path: string, message: string, offset: number): never {
  throw new ImageFormatError(`Cannot open ${path}: ${message}`, { path, offset });
}

function readHeaders(path: string, fd: number, fileBytes: number): { shadow: boolean; geometry: CkdGeometry; header: CckdHeader } {
  if (fileBytes < CCKD_L1_OFFSET)
    refuse(path, `truncated: ${fileBytes} bytes is shorter than the two ${CKD_HEADER_BYTES}-byte headers of a CCKD file`, fileBytes);
  const device = decodeCkdHeader(readAt(fd, path, CKD_HEADER_BYTES, 0));
  if (device.devid !== CCKD_DEVID_BASE && device.devid !== CCKD_DEVID_SHADOW)
    refuse(path, `header starts "${device.devid}", expected ${CCKD_DEVID_BASE} or ${CCKD_DEVID_SHADOW}`, 0);
  const family = familyByDevtypeByte(device.devtypeByte);
  if (!family) refuse(path, `device type byte 0x${device.devtypeByte.toString(16)} at offset 16 is not a 3390 (0x90) or 3380 (0x80)`, 16);
  if (device.heads !== family.heads) refuse(path, `header says ${device.heads} heads at offset 8, but a ${family.family} has ${family.heads}`, 8);
  if (device.trackSlotBytes !== family.trackSlotBytes)
    refuse(
      path,
      `track size ${device.trackSlotBytes} at offset 12 is not the ${family.family}'s ${family.trackSlotBytes} (Hercules cckdcdsk: bad trksize)`,
      12,
    );
  const header = decodeCckdHeader(readAt(fd, path, CCKD_HEADER_LAYOUT.size, CCKD_HEADER_OFFSET));
  const at = (name: string): number => CCKD_HEADER_OFFSET + (CCKD_HEADER_LAYOUT.fields.find((f) => f.name === name)?.offset ?? 0);
  if (header.cylinders < 1 || header.cylinders > MAX_CKD_CYLINDERS)
    refuse(path, `compressed header says ${header.cylinders} cylinders at offset ${at('cylinders')} (1-${MAX_CKD_CYLINDERS})`, at('cylinders'));
  const geometry = { ...ckdGeometry(family, header.cylinders), trackSlotBytes: device.trackSlotBytes };
  const l1Needed = Math.ceil(geometry.trackCount / CCKD_L2_ENTRIES);
  if (header.l2Entries !== CCKD_L2_ENTRIES)
    refuse(path, `compressed header says ${header.l2Entries} L2 entries at offset ${at('l2Entries')}, expected ${CCKD_L2_ENTRIES}`, at('l2Entries'));
  if (header.l1Entries !== l1Needed && header.l1Entries !== l1Needed + 1)
    refuse(
      path,
      `compressed header says ${header.l1Entries} L1 entries at offset ${at('l1Entries')}, but ${geometry.trackCount} tracks need ${l1Needed}`,
      at('l1Entries'),
    );
  if (header.nullFormat > NULL_FORMAT_MAX)
    refuse(path, `null track format ${header.nullFormat} at offset ${at('nullFormat')} is not 0, 1 or 2`, at('nullFormat'));
  if (header.compression > 2)
    refuse(path, `compression ${header.compression} at offset ${at('compression')} is not 0 (none), 1 (zlib) or 2 (bzip2)`, at('compression'));
  const l1End = CCKD_L1_OFFSET + header.l1Entries * CCKD_L1_ENTRY_BYTES;
  if (l1End > fileBytes)
    refuse(path, `the ${header.l1Entries}-entry L1 table at offset ${CCKD_L1_OFFSET} runs past the end of the ${fileBytes}-byte file`, CCKD_L1_OFFSET);
  return { shadow: device.devid === CCKD_DEVID_SHADOW, geometry, header };
}

/** Checks one file. Throws only when the headers themselves make no sense; the rest is `problems`. */
export function analyseCckd(path: string, fd: number): CckdAnalysis {
  const actualBytes = fstatSync(fd).size;
  const { shadow, geometry, header } = readHeaders(path, fd, actualBytes);
  const bigEndian = isBigEndian(header.options);
  // Hercules 3.13 also writes the "new format" free space (cckdcdsk after a rebuild): "FREE_BLK"
  // and then the free extents as an array, inside the first free space or, when none is large
  // enough, past the end of the data (free == size; the data then ends at the header's size).
  // snaptape reads both and writes the old chain the next time it writes the file.
  const newFormat =
    header.freeOffset !== 0 &&
    header.freeOffset + CCKD_FREE_BLOCK_LAYOUT.size <= actualBytes &&
    readAt(fd, path, CCKD_FREE_BLOCK_LAYOUT.size, header.freeOffset).toString('latin1') === NEW_FORMAT_MAGIC;
  const fileBytes = newFormat && header.freeOffset === header.fileBytes ? header.fileBytes : actualBytes;
  const problems: CckdProblem[] = [];
  const l1End = CCKD_L1_OFFSET + header.l1Entries * CCKD_L1_ENTRY_BYTES;
  const l1 = decodeL1(readAt(fd, path, l1End - CCKD_L1_OFFSET, CCKD_L1_OFFSET), header.l1Entries, bigEndian);
  const used: Extent[] = [{ offset: 0, length: l1End }];
  const owner = new Map<number, string>();
  const l2: Array<L2Table | undefined> = [];
  let imbeddedBytes = 0;
  for (let i = 0; i < header.l1Entries; i++) {
    const at = l1[i] as number;
    if (at === 0 || at === CCKD_NOT_HERE) {
      l2.push(undefined);
      continue;
    }
    if (at < l1End || at + CCKD_L2_TABLE_BYTES > fileBytes) {
      problems.push({
        kind: 'table',
        message: `L1 entry ${i} (offset ${CCKD_L1_OFFSET + i * CCKD_L1_ENTRY_BYTES}) points at an L2 table at ${at}, outside ${l1End}-${fileBytes}`,
        offset: CCKD_L1_OFFSET + i * CCKD_L1_ENTRY_BYTES,
      });
      l2.push(undefined);
      continue;
    }
    const table = decodeL2(readAt(fd, path, CCKD_L2_TABLE_BYTES, at), bigEndian);
    l2.push(table);
    used.push({ offset: at, length: CCKD_L2_TABLE_BYTES });
    owner.set(at, `the L2 table of L1 entry ${i}`);
    for (let j = 0; j < CCKD_L2_ENTRIES; j++) {
      const track = i * CCKD_L2_ENTRIES + j;
      if (track >= geometry.trackCount) break;
      const offset = table.offsets[j] as number;
      const length = table.lengths[j] as number;
      const size = table.sizes[j] as number;
      const entryAt = at + j * 8;
      if (offset === CCKD_NOT_HERE) continue;
      if (offset === 0) {
        if (length > NULL_FORMAT_MAX)
          problems.push({ kind: 'table', message: `track ${track}: null L2 entry at offset ${entryAt} has null format ${length}`, offset: entryAt, track });
        continue;
      }
      if (
        offset < l1End ||
        offset + size > fileBytes ||
        length < CCKD_TRACK_HEADER_LAYOUT.size ||
        length > size ||
        length > maxImageBytes(geometry.trackSlotBytes)
      ) {
        problems.push({
          kind: 'table',
          message: `track ${track}: L2 entry at offset ${entryAt} (image at ${offset}, length ${length}, size ${size}) is out of bounds or inconsistent`,
          offset: entryAt,
          track,
        });
        table.offsets[j] = 0;
        table.lengths[j] = 0;
        table.sizes[j] = 0;
        continue;
      }
      used.push({ offset, length: size });
      owner.set(offset, `the image of track ${track}`);
      imbeddedBytes += size - length;
    }
  }
  const { gaps, overlaps } = gapsBetween(used, 0, fileBytes);
  for (const [a, b] of overlaps) {
    problems.push({
      kind: 'table',
      message: `${owner.get(b.offset) ?? 'a space'} at offset ${b.offset} overlaps ${owner.get(a.offset) ?? 'the headers and L1 table'} at ${a.offset} (${a.length} bytes)`,
      offset: b.offset,
    });
  }
  checkStatistics(header, { fileBytes, gaps, imbeddedBytes }, problems);
  if (problems.every((p) => p.kind !== 'table')) {
    if (newFormat) checkFreeArray(path, fd, { header, bigEndian, gaps, actualBytes }, problems);
    else checkChain(path, fd, { header, bigEndian, gaps, l1End, fileBytes }, problems);
  }
  if (header.options & CCKD_OPTION.OPENED)
    problems.push({ kind: 'statistics', message: 'the file was not closed (the opened bit 0x80 of the options byte is set)', offset: CCKD_HEADER_OFFSET + 3 });
  return { path, shadow, bigEndian, geometry, header, l1, l2, fileBytes, gaps, imbeddedBytes, problems };
}

function checkStatistics(header: CckdHeader, actual: { fileBytes: number; gaps: readonly Extent[]; imbeddedBytes: number }, problems: CckdProblem[]): void {
  const freeBytes = actual.gaps.reduce((n, g) => n + g.length, 0);
  const expected: Partial<Record<keyof CckdHeader, number>> = {
    fileBytes: actual.fileBytes,
    usedBytes: actual.fileBytes - freeBytes - actual.imbeddedBytes,
    freeTotalBytes: freeBytes + actual.imbeddedBytes,
    freeLargestBytes: actual.gaps.reduce((n, g) => Math.max(n, g.length), 0),
    freeCount: actual.gaps.length,
    freeImbeddedBytes: actual.imbeddedBytes,
  };
  for (const [name, value] of Object.entries(expected)) {
    const stored = header[name as keyof CckdHeader];
    const offset = CCKD_HEADER_OFFSET + (CCKD_HEADER_LAYOUT.fields.find((f) => f.name === name)?.offset ?? 0);
    if (stored !== value)
      problems.push({ kind: 'statistics', message: `compressed header ${name} at offset ${offset} is ${stored}, the tables imply ${value}`, offset });
  }
  for (const g of actual.gaps) {
    if (g.length < FREE_BLOCK_MIN_BYTES)
      problems.push({
        kind: 'free-space',
        message: `a free gap of ${g.length} bytes at offset ${g.offset} is too small for a free-chain entry`,
        offset: g.offset,
      });
  }
}

/** The "new format" free space: the magic, then freeCount (offset, length) pairs in ascending order. */
function checkFreeArray(
  path: string,
  fd: number,
  at: { header: CckdHeader; bigEndian: boolean; gaps: readonly Extent[]; actualBytes: number },
  problems: CckdProblem[],
): void {
  const { header, gaps } = at;
  const start = header.freeOffset + CCKD_FREE_BLOCK_LAYOUT.size;
  if (header.freeCount !== gaps.length || start + gaps.length * CCKD_FREE_BLOCK_LAYOUT.size > at.actualBytes) {
    problems.push({
      kind: 'free-space',
      message: `the FREE_BLK free-space array at offset ${header.freeOffset} lists ${header.freeCount} blocks; the tables leave ${gaps.length} gaps`,
      offset: header.freeOffset,
    });
    return;
  }
  const array = readAt(fd, path, gaps.length * CCKD_FREE_BLOCK_LAYOUT.size, start);
  gaps.forEach((gap, i) => {
    const offset = at.bigEndian ? array.readUInt32BE(i * 8) : array.readUInt32LE(i * 8);
    const length = at.bigEndian ? array.readUInt32BE(i * 8 + 4) : array.readUInt32LE(i * 8 + 4);
    if (offset !== gap.offset || length !== gap.length) {
      problems.push({
        kind: 'free-space',
        message: `FREE_BLK entry ${i} (offset ${offset}, ${length} bytes) is not the gap the tables leave (offset ${gap.offset}, ${gap.length} bytes)`,
        offset: start + i * 8,
      });
    }
  });
}

function checkChain(
  path: string,
  fd: number,
  at: { header: CckdHeader; bigEndian: boolean; gaps: readonly Extent[]; l1End: number; fileBytes: number },
  problems: CckdProblem[],
): void {
  const { header, gaps } = at;
  const le = !at.bigEndian;
  let position = header.freeOffset;
  // Bounded by the gap count: a chain longer than that is wrong anyway.
  for (let i = 0; i <= gaps.length; i++) {
    const gap = gaps[i];
    if (position === 0) {
      if (gap)
        problems.push({
          kind: 'free-space',
          message: `the free chain ends after ${i} blocks, but the tables leave ${gaps.length} gaps (next at offset ${gap.offset})`,
          offset: gap.offset,
        });
      return;
    }
    if (position < at.l1End || position + CCKD_FREE_BLOCK_LAYOUT.size > at.fileBytes) {
      problems.push({ kind: 'free-space', message: `free block ${i} of the chain is at offset ${position}, outside the file's data area`, offset: position });
      return;
    }
    const block = readAt(fd, path, CCKD_FREE_BLOCK_LAYOUT.size, position);
    if (block.toString('latin1') === NEW_FORMAT_MAGIC) {
      problems.push({ kind: 'free-space', message: `free block ${i} of the chain at offset ${position} holds a FREE_BLK array`, offset: position });
      return;
    }
    const next = le ? block.readUInt32LE(0) : block.readUInt32BE(0);
    const length = le ? block.readUInt32LE(4) : block.readUInt32BE(4);
    if (!gap || gap.offset !== position || gap.length !== length) {
      problems.push({
        kind: 'free-space',
        message: `free block ${i} of the chain (offset ${position}, ${length} bytes) is not the gap the tables leave${gap ? ` (offset ${gap.offset}, ${gap.length} bytes)` : ''}`,
        offset: position,
      });
      return;
    }
    position = next;
  }
  problems.push({ kind: 'free-space', message: `the free chain has more blocks than the ${gaps.length} gaps the tables leave`, offset: position });
}
