/**
 * Restore from a backup tape: every element's SHA-256 is checked first (nothing is written from a
 * tape that does not verify), then the tracks or blocks are written back, through the target
 * volume's write path:
 * - to their original places (each CKD block carries its home address), on an existing volume;
 * - or into a new volume (`newVolume`), by default of the source's type and size as the tape
 *   records them: a whole-volume element lands track for track; a data set is allocated afresh in
 *   the new VTOC and its tracks are relocated (home address and record ids rewritten).
 */
import { existsSync } from 'node:fs';
import { TargetExistsError, UsageError, VerifyError, ImageFormatError } from '../../errors/snaptape-error.js';
import { createVolume, openVolume } from '../../api/volume-api.js';
import { decodeTrack, encodeTrack, trackUsedBytes } from '../../ckd/track-codec.js';
import { cchhOf, type Cchh } from '../../geometry/cchh.js';
import type { Volume } from '../../volume/volume.js';
import { allocateDataset } from '../../vtoc/dataset-allocator.js';
import { decodeFormat1, encodeFormat1 } from '../../vtoc/dscb-codec.js';
import { DSCB_KEY_BYTES } from '../../vtoc/dscb-layouts.js';
import { datasetTrackIndexes } from '../../vtoc/dataset-tracks.js';
import { dsorgName } from '../../vtoc/dataset-attributes.js';
import { encodeEbcdicPadded } from '../../base/ebcdic.js';
import { writeDscb } from '../../vtoc/vtoc-writer.js';
import { checkElement, forEachBlock, openBackupTape, type BackupTape, type ElementCheck, type TapeElement } from './backup-tape.js';

export interface RestoreOptions {
  readonly to: string;
  readonly dataset?: string;
  readonly newVolume?: boolean;
  readonly type?: string;
  readonly cylinders?: number;
  readonly force?: boolean;
  /** The tape is on the FBA volume named by the tape path, from this block. */
  readonly tapeStartBlock?: number;
}

export interface RestoreResult {
  readonly to: string;
  readonly elements: readonly (ElementCheck & { readonly unitsWritten: number })[];
  readonly newVolume: boolean;
}

function homeAddress(block: Buffer): Cchh {
  return { cylinder: block.readUInt16BE(1), head: block.readUInt16BE(3) };
}

/**
 * Bytes of consecutive track images held before they are written as one run: a whole volume is one
 * run of consecutive tracks, and holding it all would take the volume's size in memory.
 */
const RESTORE_RUN_BYTES = 8 * 1024 * 1024;
/**
 * Tracks held before a run is written, whatever their bytes: an empty track is 29 bytes, and 8 MiB
 * of them would be 290,000 buffers alive at once, costing far more than their data.
 */
const RESTORE_RUN_TRACKS = 1024;

/**
 * Writes a whole-volume element back track for track: block j is track j. A block that decodes as
 * its track is a track write; one that does not (a host wrote raw bytes over the slot) is written
 * back raw, so the restore is byte-exact either way. Consecutive track writes are batched in runs
 * of at most RESTORE_RUN_BYTES and RESTORE_RUN_TRACKS.
 */
function restoreVolumeElement(volume: Volume, tape: BackupTape, element: TapeElement): number {
  const geometry = volume.ckd;
  if (element.blockCount !== geometry.trackCount || volume.backend.slotBytes !== tape.source.slotBytes) {
    throw new UsageError(`Cannot restore ${element.name} onto ${volume.path}: the tape holds ${element.blockCount} tracks of ${tape.source.slotBytes}-byte slots, the volume has ${geometry.trackCount} of ${volume.backend.slotBytes}`, { path: volume.path });
  }
  let runFirst = -1;
  let run: Buffer[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length) volume.writeTrackImages(runFirst, run);
    run = [];
    runBytes = 0;
  };
  forEachBlock(tape, element, (block, t) => {
    if (!decodesAsTrack(block, cchhOf(geometry, t))) {
      flush();
      const slot = Buffer.alloc(Math.max(block.length, volume.trackSizes().get(t)));
      block.copy(slot);
      volume.writeFlat(t * volume.backend.slotBytes, slot);
      return;
    }
    if (run.length && (t !== runFirst + run.length || runBytes + block.length > RESTORE_RUN_BYTES || run.length === RESTORE_RUN_TRACKS)) flush();
    if (!run.length) runFirst = t;
    run.push(block);
    runBytes += block.length;
  });
  flush();
  return element.blockCount;
}

function decodesAsTrack(block: Buffer, cchh: Cchh): boolean {
  try {
    trackUsedBytes(block, cchh, { path: 'tape block', trackIndex: 0 });
    return true;
  } catch {
    return false;
  }
}

/** Writes a data set's track images to the tracks their home addresses name. */
function restoreInPlace(volume: Volume, tape: BackupTape, element: TapeElement): number {
  const geometry = volume.ckd;
  forEachBlock(tape, element, (block, j) => {
    const ha = homeAddress(block);
    if (ha.cylinder >= geometry.cylinders || ha.head >= geometry.heads) {
      throw new UsageError(`Cannot restore block ${j} of ${element.name} to ${volume.path}: its track CC=${ha.cylinder} HH=${ha.head} is outside the volume`, { path: volume.path });
    }
    volume.writeTrackImages(ha.cylinder * geometry.heads + ha.head, [block]);
  });
  return element.blockCount;
}

function restoreFbaBlocks(volume: Volume, tape: BackupTape, element: TapeElement): number {
  let block = element.description.kind === 'blocks' ? element.description.firstBlock ?? 0 : 0;
  let written = 0;
  forEachBlock(tape, element, (data) => {
    volume.writeBlocks(block, data);
    block += data.length / 512;
    written += data.length / 512;
  });
  return written;
}

/** Allocates the data set on `volume` like the one on tape, and writes its tracks relocated. */
function restoreDatasetRelocated(volume: Volume, tape: BackupTape, element: TapeElement): number {
  const geometry = volume.ckd;
  const description = element.description;
  const format1 = decodeFormat1(Buffer.concat([encodeEbcdicPadded(description.dsname ?? element.name, DSCB_KEY_BYTES), description.format1Data ?? Buffer.alloc(96)]));
  const org = dsorgName(format1.dsorg);
  const entry = allocateDataset(volume, {
    name: format1.dsname,
    tracks: element.blockCount,
    dsorg: org === 'PO' ? 'PO' : org === 'DA' ? 'DA' : 'PS',
    recfm: format1.recfm,
    recordLength: format1.recordLength,
    blockSize: format1.blockSize,
  });
  const targets = datasetTrackIndexes(geometry, entry);
  forEachBlock(tape, element, (block, j) => {
    const t = targets[j] as number;
    const cchh = cchhOf(geometry, t);
    const old = decodeTrack(block, homeAddress(block), { path: `${tape.path} block ${element.firstBlockNumber + j}`, trackIndex: j });
    const records = old.records.map((r) => ({ ...r, cylinder: cchh.cylinder, head: cchh.head }));
    volume.writeTrackImages(t, [encodeTrack({ cchh, r0Data: old.r0Data, records })]);
  });
  writeDscb(volume, entry.format1Address, encodeFormat1({ ...entry.format1, lastUsed: format1.lastUsed, trackBalance: format1.trackBalance, created: format1.created }));
  return element.blockCount;
}

function checkBlocksAreTracks(tape: BackupTape, element: TapeElement): void {
  forEachBlock(tape, element, (block, j) => {
    try {
      trackUsedBytes(block, homeAddress(block), { path: tape.path, trackIndex: j });
    } catch {
      throw new ImageFormatError(`Cannot restore ${element.name}: tape block ${element.firstBlockNumber + j} is not a track image`, { path: tape.path, blockNumber: element.firstBlockNumber + j });
    }
  });
}

export function restoreTape(tapePath: string, options: RestoreOptions): RestoreResult {
  const tape = openBackupTape(tapePath, { startBlock: options.tapeStartBlock });
  try {
    const chosen = options.dataset
      ? tape.elements.filter((e) => (e.description.dsname ?? e.name) === options.dataset!.toUpperCase())
      : tape.elements;
    if (chosen.length === 0) throw new UsageError(`Cannot restore ${options.dataset} from ${tapePath}: the tape has ${tape.elements.map((e) => e.description.dsname ?? e.name).join(', ')}`);
    // Verify everything before writing anything.
    const checks = chosen.map((e) => checkElement(tape, e));
    const bad = checks.find((c) => !c.ok);
    if (bad) throw new VerifyError(`Cannot restore from ${tapePath}: ${bad.name} has SHA-256 ${bad.sha256}, the tape records ${bad.recorded}`, { path: tapePath, element: bad.name });
    // Data set tracks are placed by their home addresses (or relocated), so each must decode.
    if (tape.source.kind === 'ckd') chosen.filter((e) => e.description.kind === 'dataset').forEach((e) => checkBlocksAreTracks(tape, e));
    const volume = options.newVolume ? createTarget(tape, options) : openVolume(options.to);
    try {
      const written = chosen.map((e) => {
        if (tape.source.kind === 'fba') return restoreFbaBlocks(volume, tape, e);
        if (e.description.kind === 'volume') return restoreVolumeElement(volume, tape, e);
        if (options.newVolume) return restoreDatasetRelocated(volume, tape, e);
        return restoreInPlace(volume, tape, e);
      });
      volume.sync();
      return { to: options.to, newVolume: options.newVolume ?? false, elements: checks.map((c, i) => ({ ...c, unitsWritten: written[i] as number })) };
    } finally {
      volume.close();
    }
  } finally {
    tape.reader.close();
  }
}

function createTarget(tape: BackupTape, options: RestoreOptions): Volume {
  if (existsSync(options.to) && !options.force) throw new TargetExistsError(`Cannot restore into a new volume ${options.to}: the file exists (use --force)`, { path: options.to });
  const source = tape.source;
  const wholeVolume = tape.elements.some((e) => e.description.kind === 'volume');
  if (source.kind === 'fba') return createVolume(options.to, { type: 'fba', blocks: source.size, volser: source.volser || 'FBA001', force: options.force });
  const type = options.type ?? source.typeName;
  const cylinders = options.cylinders ?? (options.type ? undefined : source.size);
  // A whole-volume restore brings its own track 0 and VTOC; a data set restore needs a fresh VTOC.
  return createVolume(options.to, { type, cylinders, volser: source.volser || 'RESTOR', vtocTracks: wholeVolume ? 0 : undefined, force: options.force });
}
