/**
 * Restore from a backup tape: every element's SHA-256 is checked first (nothing is written from a
 * tape that does not verify), then the tracks or blocks are written back, through the target
 * volume's write path:
 * - a whole-volume element lands track for track, on a volume of the source's device type with at
 *   least its cylinders (a bigger one's VTOC then takes the volume's size, and its free space grows);
 * - a data set goes through the target's VTOC (restore-dataset.ts), on an existing volume or a new
 *   one alike: allocated in free space, catalogued, its tracks relocated; a name clash is refused
 *   unless `replace`, and `rename` restores it under another name;
 * - FBA blocks go back to the blocks they came from.
 * The target is checked (device type, size, clashes, free space) before the first byte is written.
 * `newVolume` creates the target first, by default of the source's type and size as the tape records.
 */
import type { OnPhaseProgress } from '../../base/phase-progress.js';
import { existsSync, rmSync } from 'node:fs';
import { TargetExistsError, UsageError, VerifyError, ImageFormatError } from '../../errors/snaptape-error.js';
import { createVolume, openVolume } from '../../volume/open-volume.js';
import { homeAddressOf, trackUsedBytes } from '../../ckd/track-codec.js';
import { cchhOf, type Cchh } from '../../geometry/cchh.js';
import type { TapeIndex } from '../../tape/tape-index.js';
import type { Volume } from '../../volume/volume.js';
import { fitVtocToVolume } from '../../vtoc/vtoc-writer.js';
import { freeReallocatedNamesakes, planDatasetRestores, writeDatasetRestore, type DatasetPlacement } from './restore-dataset.js';
import { sizeStorePath } from '../../volume/track-size-store.js';
import { blocksOf, checkElement, forEachBlock, openBackupTape, type BackupTape, type ElementCheck, type TapeElement } from './backup-tape.js';
import { checkRecordedGeometry, requireLabelsMatch } from './tape-trust.js';

export interface RestoreOptions {
  readonly to: string;
  readonly dataset?: string;
  readonly newVolume?: boolean;
  readonly type?: string;
  readonly cylinders?: number;
  readonly force?: boolean;
  /** The tape is on the FBA volume named by the tape path, from this block. */
  readonly tapeStartBlock?: number;
  /** Restore the one data set under this name. */
  readonly rename?: string;
  /** Overwrite or reallocate a data set of the same name. */
  readonly replace?: boolean;
  /** Told each phase (sha256 of the chosen elements, verify of data set tracks, copy to the target) and its blocks. */
  readonly onProgress?: OnPhaseProgress;
  /** The tape's index, made apart from it: a partly fetched vaulted cartridge (backup-tape.ts). */
  readonly tapeIndex?: TapeIndex;
}

export interface RestoreResult {
  readonly to: string;
  readonly elements: readonly (ElementCheck & { readonly unitsWritten: number })[];
  readonly newVolume: boolean;
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
export function restoreVolumeElement(volume: Volume, tape: BackupTape, element: TapeElement): number {
  const geometry = volume.ckd;
  // A run of tracks (an incremental's element) starts at its first track; a whole volume at 0.
  const firstTrack = element.description.kind === 'tracks' ? (element.description.firstBlock ?? 0) : 0;
  let runFirst = -1;
  let run: Buffer[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length) volume.writeTrackImages(runFirst, run);
    run = [];
    runBytes = 0;
  };
  forEachBlock(tape, element, (block, j) => {
    const t = firstTrack + j;
    if (!decodesAsTrack(block, cchhOf(geometry, t))) {
      flush();
      const slot = Buffer.alloc(Math.max(block.length, volume.trackSizes().get(t)));
      block.copy(slot);
      volume.writeFlat(t * volume.backend.slotBytes, slot);
      return;
    }
    if (run.length && (t !== runFirst + run.length || runBytes + block.length > RESTORE_RUN_BYTES || run.length === RESTORE_RUN_TRACKS)) flush();
    if (!run.length) runFirst = t;
    // The block is a view into the reader's window, reused by the next read: the run keeps a copy.
    run.push(Buffer.from(block));
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

export function restoreFbaBlocks(volume: Volume, tape: BackupTape, element: TapeElement): number {
  let block = element.description.kind === 'blocks' ? (element.description.firstBlock ?? 0) : 0;
  let written = 0;
  forEachBlock(tape, element, (data) => {
    volume.writeBlocks(block, data);
    block += data.length / 512;
    written += data.length / 512;
  });
  return written;
}

/** A whole volume goes to a volume of its device type with at least as many cylinders. */
function checkVolumeFits(volume: Volume, tape: BackupTape, element: TapeElement): void {
  const geometry = volume.ckd;
  const sameType = tape.source.typeName.split('-')[0] === geometry.family.family && volume.backend.slotBytes === tape.source.slotBytes;
  if (!sameType || element.blockCount > geometry.trackCount) {
    throw new UsageError(
      `Cannot restore ${element.name} onto ${volume.path}: the tape holds a ${tape.source.typeName} of ${tape.source.size} cylinders, the volume is a ${geometry.typeName} of ${geometry.cylinders} (a whole volume goes to the same device type with at least as many cylinders)`,
      { path: volume.path },
    );
  }
}

function checkBlocksAreTracks(tape: BackupTape, element: TapeElement): void {
  forEachBlock(tape, element, (block, j) => {
    try {
      trackUsedBytes(block, homeAddressOf(block), { path: tape.path, trackIndex: j });
    } catch {
      throw new ImageFormatError(`Cannot restore ${element.name}: tape block ${element.firstBlockNumber + j} is not a track image`, {
        path: tape.path,
        blockNumber: element.firstBlockNumber + j,
      });
    }
  });
}

/** Restores a backup tape, after verifying it, onto a volume or into a new one (all of it, or one data set). Throws VerifyError when the tape fails its checks, UsageError when the data set is not on the tape, TargetExistsError when the new volume exists. */
export function restoreTape(tapePath: string, options: RestoreOptions): RestoreResult {
  const tape = openBackupTape(tapePath, { startBlock: options.tapeStartBlock, onProgress: options.onProgress, index: options.tapeIndex });
  try {
    if (tape.chain?.base) {
      throw new UsageError(
        `Cannot restore ${tapePath} alone: it is an incremental backup since checkpoint ${tape.chain.base.checkpoint} (tape ${tape.chain.base.volser}); restore its chain, the full backup first: snaptape restore FULL ${tapePath} --to ${options.to}`,
        { path: tapePath },
      );
    }
    const chosen = options.dataset ? tape.elements.filter((e) => (e.description.dsname ?? e.name) === options.dataset!.toUpperCase()) : tape.elements;
    if (chosen.length === 0)
      throw new UsageError(
        `Cannot restore ${options.dataset} from ${tapePath}: the tape has ${tape.elements.map((e) => e.description.dsname ?? e.name).join(', ')}`,
      );
    // Verify everything before writing anything.
    tape.progress.begin('sha256', blocksOf(chosen), 'blocks');
    const checks = chosen.map((e) => checkElement(tape, e));
    const bad = checks.find((c) => !c.ok);
    if (bad)
      throw new VerifyError(`Cannot restore from ${tapePath}: ${bad.name} has SHA-256 ${bad.sha256}, the tape records ${bad.recorded}`, {
        path: tapePath,
        element: bad.name,
      });
    // Data set tracks are placed by their home addresses (or relocated), so each must decode.
    if (tape.source.kind === 'ckd') {
      const datasetElements = chosen.filter((e) => e.description.kind === 'dataset');
      tape.progress.begin('verify', blocksOf(datasetElements), 'blocks');
      datasetElements.forEach((e) => checkBlocksAreTracks(tape, e));
    }
    // The labels are trusted only as far as they are checked: against their digest, and the
    // geometry a new volume takes from them against the device type and the tape's data.
    requireLabelsMatch('restore from', tape);
    if (options.newVolume) checkRecordedGeometry(tape);
    const volume = options.newVolume ? createTarget(tape, options) : openVolume(options.to);
    let restored = false;
    try {
      // Everything about the target is checked before the first byte is written.
      const ckd = tape.source.kind === 'ckd';
      if (ckd) chosen.filter((e) => e.description.kind === 'volume').forEach((e) => checkVolumeFits(volume, tape, e));
      const datasets = ckd
        ? planDatasetRestores(
            volume,
            tape,
            chosen.filter((e) => e.description.kind === 'dataset'),
            options,
          )
        : [];
      freeReallocatedNamesakes(volume, datasets);
      tape.progress.begin('copy', blocksOf(chosen), 'blocks');
      const written = chosen.map((e) => {
        if (!ckd) return restoreFbaBlocks(volume, tape, e);
        if (e.description.kind === 'volume') {
          const tracks = restoreVolumeElement(volume, tape, e);
          fitVtocToVolume(volume);
          return tracks;
        }
        return writeDatasetRestore(volume, tape, datasets.find((p) => p.element === e) as DatasetPlacement);
      });
      volume.sync();
      restored = true;
      return { to: options.to, newVolume: options.newVolume ?? false, elements: checks.map((c, i) => ({ ...c, unitsWritten: written[i] as number })) };
    } finally {
      volume.close();
      if (!restored && options.newVolume) removeNewVolume(options.to);
    }
  } finally {
    tape.reader.close();
  }
}

/** A new volume whose restore failed is removed with its track-size table: no partial target is left. */
function removeNewVolume(path: string): void {
  rmSync(path, { force: true });
  rmSync(sizeStorePath(path), { force: true });
}

function createTarget(tape: BackupTape, options: RestoreOptions): Volume {
  if (existsSync(options.to) && !options.force)
    throw new TargetExistsError(`Cannot restore into a new volume ${options.to}: the file exists (use --force)`, { path: options.to });
  const source = tape.source;
  const wholeVolume = tape.elements.some((e) => e.description.kind === 'volume');
  if (source.kind === 'fba') return createVolume(options.to, { type: 'fba', blocks: source.size, volser: source.volser || 'FBA001', force: options.force });
  const type = options.type ?? source.typeName;
  const cylinders = options.cylinders ?? (options.type ? undefined : source.size);
  // A whole-volume restore brings its own track 0 and VTOC; a data set restore needs a fresh VTOC.
  return createVolume(options.to, { type, cylinders, volser: source.volser || 'RESTOR', vtocTracks: wholeVolume ? 0 : undefined, force: options.force });
}
