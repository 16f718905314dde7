/**
 * Restore from a backup tape: every element's SHA-256 is checked first (nothing is written from a
 * tape that does not verify), then the tracks or blocks are written back, through the target
 * volume's write path. A new volume where no file was is the one exception to "first": the tape is
 * read once, each block hashed and then written (a disk-speed restore), and a tape that does not
 * verify is refused as before, its new volume removed, so nothing that was there is touched.
 * An existing target is not streamed on purpose: a bad block found at the end would leave it
 * half-written, and undoing that needs its old units saved first (a read and a write of each, more
 * than the verify pass saves) or a scratch copy renamed over it (room for a second volume, and a new
 * file under whoever holds the old one).
 * What is written where:
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
import { TargetExistsError, UsageError, VerifyError } from '../../errors/snaptape-error.js';
import { createVolume, openVolume } from '../../volume/open-volume.js';
import { TrackImageWriter } from './track-image-writer.js';
import type { TapeIndex } from '../../tape/tape-index.js';
import type { Volume } from '../../volume/volume.js';
import { fitVtocToVolume } from '../../vtoc/vtoc-writer.js';
import { FBA_BLOCK_BYTES } from '../../geometry/device-types.js';
import { freeReallocatedNamesakes, planDatasetRestores, writeDatasetRestore, type DatasetPlacement } from './restore-dataset.js';
import { sizeStorePath } from '../../volume/track-size-store.js';
import {
  blocksOf,
  checkElement,
  checkElementsVerified,
  forEachBlock,
  openBackupTape,
  type BackupTape,
  type ElementCheck,
  type TapeElement,
} from './backup-tape.js';
import { checkRecordedGeometry, requireBlockFits, requireFbaBytesMatch, requireLabelsMatch, requirePlaceable } from './tape-trust.js';
import { BackgroundSha256 } from './background-hash.js';

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
  /** Told each phase (sha256 of the chosen elements, each block checked as it is hashed; copy to the target) and its blocks. */
  readonly onProgress?: OnPhaseProgress;
  /** The tape's index, made apart from it: a partly fetched vaulted cartridge (backup-tape.ts). */
  readonly tapeIndex?: TapeIndex;
}

export interface RestoreResult {
  readonly to: string;
  readonly elements: readonly (ElementCheck & { readonly unitsWritten: number })[];
  readonly newVolume: boolean;
}

/** Hands an element's blocks, in order, to `visit`: a plain read of the tape, or a pass that also hashes them. */
export type BlockPass = (visit: (block: Buffer, index: number) => void) => void;

/** The element's blocks as read from the tape (its digest checked apart). */
export function readPass(tape: BackupTape, element: TapeElement): BlockPass {
  return (visit) => forEachBlock(tape, element, visit);
}

/**
 * Writes a whole-volume element back track for track: block j is track j (of a run of tracks from
 * its first, for an incremental's element), a cylinder per write out of one reused buffer
 * (track-image-writer.ts).
 */
export function restoreVolumeElement(volume: Volume, tape: BackupTape, element: TapeElement, pass: BlockPass): number {
  // A run of tracks (an incremental's element) starts at its first track; a whole volume at 0.
  const firstTrack = element.description.kind === 'tracks' ? (element.description.firstBlock ?? 0) : 0;
  const writer = new TrackImageWriter(volume);
  pass((block, j) => {
    requireBlockFits(tape, element, block, j);
    writer.write(firstTrack + j, block);
  });
  writer.flush();
  return element.blockCount;
}

/** FBA blocks are written in runs of up to this many bytes: one write call per run, not per block. */
const FBA_RUN_BYTES = 1024 * 1024;

/**
 * Writes an FBA element's blocks back to the blocks they came from, consecutive tape blocks gathered
 * into runs of up to FBA_RUN_BYTES in one reused buffer (a tape block is a view valid only during
 * its visit, so it is copied once, into the run).
 */
export function restoreFbaBlocks(volume: Volume, tape: BackupTape, element: TapeElement, pass: BlockPass): number {
  const first = element.description.kind === 'blocks' ? (element.description.firstBlock ?? 0) : 0;
  const run = Buffer.allocUnsafe(FBA_RUN_BYTES);
  let runBlock = first;
  let held = 0;
  let written = 0;
  const flush = (): void => {
    if (held > 0) volume.writeBlocks(runBlock, run.subarray(0, held));
    runBlock += held / FBA_BLOCK_BYTES;
    written += held / FBA_BLOCK_BYTES;
    held = 0;
  };
  pass((data, index) => {
    requireBlockFits(tape, element, data, index);
    if (held + data.length > FBA_RUN_BYTES) flush();
    if (data.length > FBA_RUN_BYTES) {
      volume.writeBlocks(runBlock, data);
      runBlock += data.length / FBA_BLOCK_BYTES;
      written += data.length / FBA_BLOCK_BYTES;
      return;
    }
    data.copy(run, held);
    held += data.length;
  });
  flush();
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

/**
 * An FBA element's blocks go back to the blocks they came from: the target is an FBA volume that
 * has them, and the element holds exactly its range's bytes (`check`: what the verify pass read;
 * absent for a new volume streamed in the pass, made of the size the tape records).
 */
function checkFbaFits(volume: Volume, tape: BackupTape, element: TapeElement, check: ElementCheck | undefined): void {
  const d = element.description;
  const first = d.kind === 'blocks' ? (d.firstBlock ?? 0) : 0;
  const count = d.kind === 'blocks' ? (d.blockCount ?? 0) : tape.source.size;
  if (volume.geometry.kind !== 'fba' || first + count > volume.unitCount) {
    throw new UsageError(
      `Cannot restore ${element.name} onto ${volume.path}: the tape holds blocks ${first}-${first + count - 1} of an FBA volume, the target ${volume.geometry.kind === 'fba' ? `has blocks 0-${volume.unitCount - 1}` : 'is a CKD volume'}`,
      { path: volume.path },
    );
  }
  if (check !== undefined) requireFbaBytesMatch(tape, element, check);
}

/** Restores a backup tape, after verifying it (in the same pass, into a new volume where no file was), onto a volume or into a new one (all of it, or one data set). Throws VerifyError when the tape fails its checks, UsageError when the data set is not on the tape, TargetExistsError when the new volume exists. */
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
    chosen.forEach((e) => requirePlaceable(tape, e));
    // A new volume where no file was is written in the same pass that hashes the tape (streamedPass);
    // any other target only after every element verified.
    const streamed = options.newVolume === true && !existsSync(options.to) && chosen.every((e) => e.description.kind !== 'dataset');
    const checks: ElementCheck[] = [];
    if (!streamed) {
      tape.progress.begin('sha256', blocksOf(chosen), 'blocks');
      // Each block is checked in the pass that hashes it (tape-trust.ts verifyPassCheck): it fits its
      // element, and a data set's is a track image (its tracks are placed by their home addresses).
      // A digest that does not match is reported first, as the damage it is.
      const verified = checkElementsVerified(tape, chosen);
      checks.push(...verified.checks);
      const bad = checks.find((c) => !c.ok);
      if (bad) throw digestMismatch(tapePath, bad);
      verified.settle();
    }
    // The labels are trusted only as far as they are checked: against their digest, and the
    // geometry a new volume takes from them against the device type and the tape's data.
    requireLabelsMatch('restore from', tape);
    if (options.newVolume) checkRecordedGeometry(tape);
    // The hash worker of a streamed restore starts before the target is made: its start-up (a
    // thread, its modules) then overlaps the making, instead of the first windows' wait for it.
    const hash = streamed ? new BackgroundSha256(tapePath) : undefined;
    let volume: Volume;
    try {
      volume = options.newVolume ? createTarget(tape, chosen, options) : openVolume(options.to);
    } catch (error) {
      hash?.close();
      throw error;
    }
    let restored = false;
    try {
      // Everything about the target is checked before the first byte is written.
      const ckd = tape.source.kind === 'ckd';
      if (ckd) chosen.filter((e) => e.description.kind === 'volume').forEach((e) => checkVolumeFits(volume, tape, e));
      else chosen.forEach((e, i) => checkFbaFits(volume, tape, e, checks[i]));
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
      const location = volume.backend.location();
      const writebackPath = location.kind === 'file' ? location.path : undefined;
      const written = chosen.map((e, i) => {
        const pass = hash ? streamedPass(tape, e, hash, writebackPath, (check) => (checks[i] = check)) : readPass(tape, e);
        if (!ckd) return restoreFbaBlocks(volume, tape, e, pass);
        if (e.description.kind === 'volume') {
          const tracks = restoreVolumeElement(volume, tape, e, pass);
          fitVtocToVolume(volume);
          return tracks;
        }
        return writeDatasetRestore(volume, tape, datasets.find((p) => p.element === e) as DatasetPlacement);
      });
      volume.sync();
      restored = true;
      return { to: options.to, newVolume: options.newVolume ?? false, elements: checks.map((c, i) => ({ ...c, unitsWritten: written[i] as number })) };
    } finally {
      hash?.close();
      volume.close();
      if (!restored && options.newVolume) removeNewVolume(options.to);
    }
  } finally {
    tape.reader.close();
  }
}

function digestMismatch(tapePath: string, bad: ElementCheck): VerifyError {
  return new VerifyError(`Cannot restore from ${tapePath}: ${bad.name} has ${bad.digest} ${bad.sha256}, the tape records ${bad.recorded}`, {
    path: tapePath,
    element: bad.name,
  });
}

/** A restore into a new volume starts the writeback of its target each time it has written this much. */
const WRITEBACK_BYTES = 32 * 1024 * 1024;

/**
 * The one pass of a restore into a new volume: each block is handed to the hash worker, then
 * written, while the worker hashes the window before (background-hash.ts); every WRITEBACK_BYTES
 * the worker starts an fdatasync of the target (`writebackPath`, when the volume is one file). A
 * tape whose digest (taken once every block was hashed) does not match is refused with VerifyError
 * whatever its writes did (a damaged block may fail to write), as when it is verified before the
 * copy, and the new volume is removed; else a write's failure is thrown. The check is told only to
 * an element that verified.
 */
function streamedPass(
  tape: BackupTape,
  element: TapeElement,
  hash: BackgroundSha256,
  writebackPath: string | undefined,
  verified: (check: ElementCheck) => void,
): BlockPass {
  return (visit) => {
    let failure: { readonly error: unknown } | undefined;
    let sinceWriteback = 0;
    const check = checkElement(
      tape,
      element,
      (block, j) => {
        if (failure) return;
        try {
          visit(block, j);
        } catch (error) {
          failure = { error };
        }
        sinceWriteback += block.length;
        if (writebackPath !== undefined && sinceWriteback >= WRITEBACK_BYTES) {
          hash.writeback(writebackPath);
          sinceWriteback = 0;
        }
      },
      hash,
    );
    if (!check.ok) throw digestMismatch(tape.path, check);
    if (failure) throw failure.error;
    verified(check);
  };
}

/** A new volume whose restore failed is removed with its track-size table: no partial target is left. */
function removeNewVolume(path: string): void {
  rmSync(path, { force: true });
  rmSync(sizeStorePath(path), { force: true });
}

function createTarget(tape: BackupTape, chosen: readonly TapeElement[], options: RestoreOptions): Volume {
  if (existsSync(options.to) && !options.force)
    throw new TargetExistsError(`Cannot restore into a new volume ${options.to}: the file exists (use --force)`, { path: options.to });
  const source = tape.source;
  const wholeVolume = tape.elements.some((e) => e.description.kind === 'volume');
  if (source.kind === 'fba') return createVolume(options.to, { type: 'fba', blocks: source.size, volser: source.volser || 'FBA001', force: options.force });
  const type = options.type ?? source.typeName;
  const cylinders = options.cylinders ?? (options.type ? undefined : source.size);
  // The tracks a whole-volume element restores are written, each of them, before the volume is
  // used (a restore that fails removes it): formatting them first would write every slot twice.
  const restored = chosen.find((e) => e.description.kind === 'volume')?.blockCount ?? 0;
  // A whole-volume restore brings its own track 0 and VTOC; a data set restore needs a fresh VTOC.
  return createVolume(options.to, {
    type,
    cylinders,
    volser: source.volser || 'RESTOR',
    vtocTracks: wholeVolume ? 0 : undefined,
    force: options.force,
    tracksWrittenByCaller: restored,
  });
}
