/**
 * Encodes and decodes one CKD track image: HA, R0, R1..Rn (count, key, data), end of track.
 *
 * Invariants:
 * - `encodeTrack` writes exactly the used bytes (HA through EOT); the slot's remaining bytes are
 *   the image file's business (zero in images snaptape writes);
 * - `decodeTrack(encodeTrack(t))` gives `t` back;
 * - the decoder never reads past the slot: a count whose key and data would cross the slot's end,
 *   or a slot with no end-of-track marker, is an ImageFormatError naming the file, track and offset.
 */
import { assert } from '../base/assert.js';
import { decodeFields, encodeFields, num } from '../base/field-table.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { formatCchh, type Cchh } from '../geometry/cchh.js';
import { COUNT_FIELD_LAYOUT, END_OF_TRACK_MARKER, HOME_ADDRESS_LAYOUT, R0_DATA_BYTES } from './track-layout.js';

export interface CkdRecord {
  /** Record id from the count field; normally the track's own CCHH and R = 1, 2, 3, ... */
  readonly cylinder: number;
  readonly head: number;
  readonly record: number;
  readonly key: Buffer;
  readonly data: Buffer;
}

export interface CkdTrack {
  readonly cchh: Cchh;
  /** R0's 8 data bytes. */
  readonly r0Data: Buffer;
  /** R1 onwards, in track order. */
  readonly records: readonly CkdRecord[];
}

/** Where a decoded track came from, for error messages. */
export interface TrackSource {
  readonly path: string;
  readonly trackIndex: number;
}

const COUNT_BYTES = COUNT_FIELD_LAYOUT.size;
const HA_BYTES = HOME_ADDRESS_LAYOUT.size;

export function isEndOfTrack(image: Uint8Array, offset: number): boolean {
  for (let i = 0; i < COUNT_BYTES; i++) if (image[offset + i] !== 0xff) return false;
  return true;
}

/** A record with KL = 0 and DL = 0 marks the end of a data set's data. */
export function isEofRecord(record: { key: Uint8Array; data: Uint8Array }): boolean {
  return record.key.length === 0 && record.data.length === 0;
}

function formatError(source: TrackSource, offset: number, problem: string): ImageFormatError {
  return new ImageFormatError(`Cannot read track ${source.trackIndex} of ${source.path}: ${problem} at track offset ${offset}`, {
    path: source.path,
    track: source.trackIndex,
    offset,
  });
}

function readCount(image: Buffer, offset: number): { cylinder: number; head: number; record: number; keyLength: number; dataLength: number } {
  const f = decodeFields(COUNT_FIELD_LAYOUT, image.subarray(offset, offset + COUNT_BYTES));
  return { cylinder: num(f, 'cylinder'), head: num(f, 'head'), record: num(f, 'record'), keyLength: num(f, 'keyLength'), dataLength: num(f, 'dataLength') };
}

/**
 * Walks the records of a track image and returns the offset just past its EOT marker (the used
 * length). Checks the home address against the expected CCHH, as Hercules does.
 */
export function trackUsedBytes(image: Buffer, expected: Cchh, source: TrackSource): number {
  return walkTrack(image, expected, source, () => undefined);
}

function walkTrack(image: Buffer, expected: Cchh, source: TrackSource, visit: (countOffset: number, count: ReturnType<typeof readCount>) => void): number {
  if (image.length < HA_BYTES + COUNT_BYTES) throw formatError(source, 0, `slot of ${image.length} bytes is too short for a home address`);
  const ha = decodeFields(HOME_ADDRESS_LAYOUT, image);
  if (num(ha, 'bin') !== 0 || num(ha, 'cylinder') !== expected.cylinder || num(ha, 'head') !== expected.head) {
    throw formatError(source, 0, `home address is ${image.subarray(0, HA_BYTES).toString('hex')}, expected ${formatCchh(expected)}`);
  }
  let offset = HA_BYTES;
  // Bounded: every count field advances `offset` by at least 8 bytes inside a finite slot.
  while (true) {
    if (offset + COUNT_BYTES > image.length) throw formatError(source, offset, 'no end-of-track marker');
    if (isEndOfTrack(image, offset)) return offset + COUNT_BYTES;
    const count = readCount(image, offset);
    const end = offset + COUNT_BYTES + count.keyLength + count.dataLength;
    if (end > image.length) {
      throw formatError(source, offset, `record R${count.record} (KL ${count.keyLength}, DL ${count.dataLength}) runs past the end of the slot`);
    }
    // The record fits but leaves no room for the 8-byte marker after it: the marker is missing.
    if (end + COUNT_BYTES > image.length) throw formatError(source, end, 'no end-of-track marker');
    visit(offset, count);
    offset = end;
  }
}

/** Decodes a track image. The first record must be R0 with 8 data bytes. */
/** The cylinder and head a track image's home address names (bytes 1-4, after the flag byte). */
export function homeAddressOf(image: Buffer): Cchh {
  return { cylinder: image.readUInt16BE(1), head: image.readUInt16BE(3) };
}

export function decodeTrack(image: Buffer, expected: Cchh, source: TrackSource): CkdTrack {
  let r0Data: Buffer | undefined;
  const records: CkdRecord[] = [];
  walkTrack(image, expected, source, (at, count) => {
    const keyStart = at + COUNT_BYTES;
    const dataStart = keyStart + count.keyLength;
    if (r0Data === undefined) {
      if (count.record !== 0 || count.keyLength !== 0 || count.dataLength !== R0_DATA_BYTES) {
        throw formatError(source, at, `first record is R${count.record} KL ${count.keyLength} DL ${count.dataLength}, expected a standard R0`);
      }
      r0Data = Buffer.from(image.subarray(dataStart, dataStart + count.dataLength));
      return;
    }
    records.push({
      cylinder: count.cylinder,
      head: count.head,
      record: count.record,
      key: Buffer.from(image.subarray(keyStart, dataStart)),
      data: Buffer.from(image.subarray(dataStart, dataStart + count.dataLength)),
    });
  });
  if (r0Data === undefined) throw formatError(source, HA_BYTES, 'track has no R0');
  return { cchh: expected, r0Data, records };
}

/** Bytes `encodeTrack` will produce for these records. */
export function encodedTrackBytes(records: readonly { key: Uint8Array; data: Uint8Array }[]): number {
  let total = HA_BYTES + COUNT_BYTES + R0_DATA_BYTES + END_OF_TRACK_MARKER.length;
  for (const r of records) total += COUNT_BYTES + r.key.length + r.data.length;
  return total;
}

/** Encodes a track image (HA through EOT, no padding). */
export function encodeTrack(track: CkdTrack): Buffer {
  assert(track.r0Data.length === R0_DATA_BYTES, 'R0 has 8 data bytes');
  const out = Buffer.alloc(encodedTrackBytes(track.records));
  const { cylinder, head } = track.cchh;
  encodeFields(HOME_ADDRESS_LAYOUT, { bin: 0, cylinder, head }).copy(out, 0);
  let offset = HA_BYTES;
  const put = (record: number, key: Uint8Array, data: Uint8Array, id: Cchh): void => {
    encodeFields(COUNT_FIELD_LAYOUT, { cylinder: id.cylinder, head: id.head, record, keyLength: key.length, dataLength: data.length }).copy(out, offset);
    offset += COUNT_BYTES;
    out.set(key, offset);
    offset += key.length;
    out.set(data, offset);
    offset += data.length;
  };
  put(0, Buffer.alloc(0), track.r0Data, track.cchh);
  for (const r of track.records) {
    assert(r.key.length <= 255 && r.data.length <= 65535, 'record lengths fit the count field');
    put(r.record, r.key, r.data, r);
  }
  END_OF_TRACK_MARKER.copy(out, offset);
  return out;
}

/** An empty track (HA, R0, EOT): what `dasdinit` writes in every slot. */
export function emptyTrack(cchh: Cchh): CkdTrack {
  return { cchh, r0Data: Buffer.alloc(R0_DATA_BYTES), records: [] };
}

/** Record ids R1..Rn for a list of key/data pairs on track `cchh`. */
export function numberRecords(cchh: Cchh, records: readonly { key: Buffer; data: Buffer }[], firstRecord = 1): CkdRecord[] {
  return records.map((r, i) => ({ cylinder: cchh.cylinder, head: cchh.head, record: firstRecord + i, key: r.key, data: r.data }));
}
