/**
 * Writes a host file into a data set as blocks of records, and reads it back, the way a sequential
 * access method would: blocks are placed on the data set's tracks in logical order, as many per
 * track as the device formula allows, followed by an EOF record; the Format-1's last-used pointer
 * (DS1LSTAR) and track balance (DS1TRBAL) are updated so that Hercules' dasdseq and dasdls agree.
 *
 * Record formats: F and FB take fixed records of LRECL (blocks of BLKSIZE / LRECL records; the last
 * block may be short for FB); U takes the host bytes in blocks of up to BLKSIZE.
 * `text` turns ASCII lines into blank-padded EBCDIC records of LRECL, and back (trailing blanks
 * dropped). Decision: binary data whose length is not a multiple of LRECL is padded with zeros to
 * a whole record, so `get` returns it padded (as dasdload SEQ does).
 */
import { decodeEbcdic, encodeEbcdic, EBCDIC_SPACE } from '../base/ebcdic.js';
import { DatasetError } from '../errors/snaptape-error.js';
import { isEofRecord } from '../ckd/track-codec.js';
import { recordsFit, trackBalanceBytes } from '../geometry/track-capacity.js';
import { EMPTY_TRACK_BYTES } from '../ckd/track-layout.js';
import type { NewRecord, Volume } from '../volume/volume.js';
import { checkRoomForTrackWrites } from '../volume/host-space.js';
import { TrackUndo } from '../volume/track-undo.js';
import { encodeFormat1 } from './dscb-codec.js';
import { RECFM_BITS } from './dataset-attributes.js';
import { datasetTrackIndexes } from './dataset-tracks.js';
import { guardDatasetWrites, writePlanOf } from './dataset-write-guard.js';
import { findDataset, readVtoc, type DatasetEntry, type VtocView } from './vtoc-reader.js';
import { writeDscb } from './vtoc-writer.js';

export interface PutResult {
  readonly dsname: string;
  readonly records: number;
  readonly blocks: number;
  readonly tracksUsed: number;
  readonly bytes: number;
}

function openDataset(volume: Volume, name: string): { view: VtocView; entry: DatasetEntry } {
  const view = readVtoc(volume);
  const entry = findDataset(view, name);
  if (!entry)
    throw new DatasetError(`Cannot find data set ${name.toUpperCase()} on ${view.label.volser} (${volume.path})`, { dsname: name, path: volume.path });
  return { view, entry };
}

function textRecords(entry: DatasetEntry, content: Buffer): Buffer[] {
  const lrecl = entry.format1.recordLength;
  const text = content.toString('latin1').replace(/\r\n/g, '\n');
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.length === 0 ? [] : text.split('\n');
  return lines.map((line, i) => {
    if (line.length > lrecl)
      throw new DatasetError(`Cannot put line ${i + 1} into ${entry.name}: it has ${line.length} characters, more than LRECL ${lrecl}`, {
        dsname: entry.name,
        line: i + 1,
      });
    const record = Buffer.alloc(lrecl, EBCDIC_SPACE);
    encodeEbcdic(line).copy(record);
    return record;
  });
}

function binaryRecords(entry: DatasetEntry, content: Buffer): Buffer[] {
  const lrecl = entry.format1.recordLength;
  const records: Buffer[] = [];
  for (let at = 0; at < content.length; at += lrecl) {
    const record = Buffer.alloc(lrecl);
    content.copy(record, 0, at, Math.min(at + lrecl, content.length));
    records.push(record);
  }
  return records;
}

function toBlocks(entry: DatasetEntry, content: Buffer, text: boolean): { blocks: Buffer[]; records: number } {
  const { recfm, recordLength: lrecl, blockSize } = entry.format1;
  const format = recfm & 0xc0;
  if (format === RECFM_BITS.U) {
    const blocks: Buffer[] = [];
    const bytes = text ? Buffer.concat(textRecords(entry, content)) : content;
    for (let at = 0; at < bytes.length; at += blockSize) blocks.push(bytes.subarray(at, at + blockSize));
    return { blocks, records: blocks.length };
  }
  if (format !== RECFM_BITS.F || lrecl === 0 || blockSize < lrecl) {
    throw new DatasetError(
      `Cannot put into ${entry.name}: only RECFM F, FB and U with LRECL ≤ BLKSIZE are supported (has RECFM 0x${recfm.toString(16)}, LRECL ${lrecl}, BLKSIZE ${blockSize})`,
      { dsname: entry.name },
    );
  }
  const records = text ? textRecords(entry, content) : binaryRecords(entry, content);
  const perBlock = recfm & RECFM_BITS.blocked ? Math.floor(blockSize / lrecl) : 1;
  const blocks: Buffer[] = [];
  for (let i = 0; i < records.length; i += perBlock) blocks.push(Buffer.concat(records.slice(i, i + perBlock)));
  return { blocks, records: records.length };
}

const EOF_RECORD: NewRecord = { key: Buffer.alloc(0), data: Buffer.alloc(0) };
const shape = (r: NewRecord): { keyLength: number; dataLength: number } => ({ keyLength: r.key.length, dataLength: r.data.length });

/** Lays blocks onto tracks: as many as fit per track, then the EOF record. */
function layOut(volume: Volume, entry: DatasetEntry, blocks: readonly Buffer[]): NewRecord[][] {
  const family = volume.ckd.family;
  const tracks: NewRecord[][] = [[]];
  const fits = (records: NewRecord[]): boolean => recordsFit(family, records.map(shape));
  for (const data of [...blocks.map((b) => ({ key: Buffer.alloc(0), data: b })), EOF_RECORD]) {
    const current = tracks[tracks.length - 1] as NewRecord[];
    if (fits([...current, data])) current.push(data);
    else if (fits([data])) tracks.push([data]);
    else throw new DatasetError(`Cannot put into ${entry.name}: a ${data.data.length}-byte block does not fit on a track`, { dsname: entry.name });
  }
  return tracks;
}

/** Writes `content` into an allocated data set as blocks of records (with `text`, lines of text become records). Throws DatasetError when the data set does not exist or its extents overlap others, NoSpaceError when the content does not fit. */
export function putDataset(volume: Volume, name: string, content: Buffer, options: { text?: boolean } = {}): PutResult {
  const { view, entry } = openDataset(volume, name);
  // Before the first byte: a data set whose extents cross track 0, the VTOC or another data set
  // would have this write destroy them.
  guardDatasetWrites(volume, view, [writePlanOf(entry)], 'put into');
  const { blocks, records } = toBlocks(entry, content, options.text ?? false);
  const tracks = layOut(volume, entry, blocks);
  const trackIndexes = datasetTrackIndexes(volume.ckd, entry);
  if (tracks.length > trackIndexes.length) {
    throw new DatasetError(
      `Cannot put ${content.length} bytes into ${entry.name}: they need ${tracks.length} tracks and the data set has ${trackIndexes.length}`,
      { dsname: entry.name, tracks: tracks.length },
    );
  }
  // Before the first byte: room on the host for every track this put fills (issue 18.5).
  checkRoomForTrackWrites(volume, tracks.length, `put ${content.length} bytes into ${entry.name} on`);
  const sizes = volume.trackSizes();
  // All or nothing: a write that fails part-way puts back every track already written, so the
  // data set reads as it was (and its Format-1 was not yet touched).
  const undo = new TrackUndo(volume);
  try {
    trackIndexes.forEach((t, i) => {
      const records = tracks[i];
      if (records) undo.write(t, () => volume.writeTrackRecords(t, records));
      else if (sizes.get(t) !== EMPTY_TRACK_BYTES) undo.write(t, () => volume.writeTrackRecords(t, []));
    });
    const lastTrack = tracks[tracks.length - 1] as NewRecord[];
    writeDscb(
      volume,
      entry.format1Address,
      encodeFormat1({
        ...entry.format1,
        lastUsed: (tracks.length - 1) * 256 + lastTrack.length,
        trackBalance: trackBalanceBytes(volume.ckd.family, lastTrack.map(shape)),
      }),
    );
  } catch (error) {
    undo.undo();
    throw error;
  }
  return { dsname: entry.name, records, blocks: blocks.length, tracksUsed: tracks.length, bytes: content.length };
}

/** Reads a data set's blocks in logical order up to its EOF record. */
export function readDatasetBlocks(volume: Volume, entry: DatasetEntry): Buffer[] {
  const blocks: Buffer[] = [];
  for (const t of datasetTrackIndexes(volume.ckd, entry)) {
    for (const r of volume.readTrack(t).records) {
      if (isEofRecord(r)) return blocks;
      blocks.push(r.data);
    }
  }
  return blocks;
}

/** Reads a data set back: its blocks concatenated, or with `text` its records as lines of text. Throws DatasetError when the data set does not exist or cannot be read. */
export function getDataset(volume: Volume, name: string, options: { text?: boolean } = {}): Buffer {
  const { entry } = openDataset(volume, name);
  const data = Buffer.concat(readDatasetBlocks(volume, entry));
  if (!options.text) return data;
  const lrecl = entry.format1.recordLength || data.length;
  const lines: string[] = [];
  for (let at = 0; at < data.length; at += lrecl) lines.push(decodeEbcdic(data.subarray(at, at + lrecl)).replace(/ +$/, ''));
  return Buffer.from(lines.length ? `${lines.join('\n')}\n` : '', 'latin1');
}
