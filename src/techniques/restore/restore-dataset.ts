/**
 * Data-set restore onto a CKD volume through its VTOC, in the manner of DFSMSdss RESTORE: a data set
 * from a tape is placed by the target's VTOC, never by the home addresses its tracks carry.
 * - A new name (or `rename`) is allocated in free space, first fit as `alloc` does, with relocated
 *   extents, and catalogued by its Format-1 (and Format-3s).
 * - A data set of the same name is a clash, refused unless `replace`: then it is overwritten in
 *   its own extents when the tape's tracks fit them, or deleted and allocated afresh.
 * - Everything is planned before the first byte is written: the device type, every clash, and the
 *   space of all the data sets together. A plan that fails writes nothing.
 * - Only tracks inside the new or reused extents and the VTOC's DSCBs are written.
 */
import { encodeEbcdicPadded } from '../../base/ebcdic.js';
import { relocateTrackImage } from '../../ckd/track-relocate.js';
import { TargetExistsError, UsageError } from '../../errors/snaptape-error.js';
import { cchhOf } from '../../geometry/cchh.js';
import type { Volume } from '../../volume/volume.js';
import { allocateDataset, checkAllocationsFit, deleteDatasets, type AllocateRequest } from '../../vtoc/dataset-allocator.js';
import { checkDatasetName, dsorgName } from '../../vtoc/dataset-attributes.js';
import { decodeFormat1, encodeFormat1, type Format1 } from '../../vtoc/dscb-codec.js';
import { DSCB_KEY_BYTES } from '../../vtoc/dscb-layouts.js';
import { datasetTrackIndexes } from '../../vtoc/dataset-tracks.js';
import { guardDatasetWrites, writePlanOf } from '../../vtoc/dataset-write-guard.js';
import { findDataset, readVtoc, type DatasetEntry } from '../../vtoc/vtoc-reader.js';
import { writeDscb } from '../../vtoc/vtoc-writer.js';
import { forEachBlock, type BackupTape, type TapeElement } from './backup-tape.js';

export interface DatasetRestoreOptions {
  /** Restore under this name instead of the tape's (one data set only). */
  readonly rename?: string;
  /** Overwrite or reallocate a data set of the same name on the target. */
  readonly replace?: boolean;
}

/** Where one data set goes: a fresh allocation, its namesake's extents, or a fresh one in its namesake's place. */
export interface DatasetPlacement {
  readonly element: TapeElement;
  readonly name: string;
  /** The tape's Format-1, as the data set was at the backup. */
  readonly format1: Format1;
  readonly mode: 'allocate' | 'reuse' | 'reallocate';
  readonly existing?: DatasetEntry;
}

function tapeFormat1(element: TapeElement): Format1 {
  const d = element.description;
  return decodeFormat1(Buffer.concat([encodeEbcdicPadded(d.dsname ?? element.name, DSCB_KEY_BYTES), d.format1Data ?? Buffer.alloc(96)]));
}

function allocationOf(placement: DatasetPlacement): AllocateRequest {
  const org = dsorgName(placement.format1.dsorg);
  return {
    name: placement.name,
    tracks: placement.element.blockCount,
    dsorg: org === 'PO' ? 'PO' : org === 'DA' ? 'DA' : 'PS',
    recfm: placement.format1.recfm,
    recordLength: placement.format1.recordLength,
    blockSize: placement.format1.blockSize,
  };
}

/** The tape's tracks are of one device family; they go only to a volume of the same one. */
function checkSameDevice(volume: Volume, tape: BackupTape): void {
  const tapeFamily = tape.source.typeName.split('-')[0];
  const family = volume.ckd.family.family;
  if (tape.source.kind !== 'ckd' || tapeFamily !== family || tape.source.slotBytes !== volume.backend.slotBytes) {
    throw new UsageError(
      `Cannot restore data sets of a ${tape.source.typeName} volume (${tape.path}) onto ${volume.path}, a ${volume.ckd.typeName}: tracks go only to a volume of the same device type`,
      { path: volume.path },
    );
  }
}

/** Decides where every data set goes and checks that all of it fits, writing nothing. */
export function planDatasetRestores(volume: Volume, tape: BackupTape, elements: readonly TapeElement[], options: DatasetRestoreOptions): DatasetPlacement[] {
  if (elements.length === 0) return [];
  checkSameDevice(volume, tape);
  if (options.rename !== undefined && elements.length !== 1) {
    throw new UsageError(`Cannot restore ${elements.length} data sets under the one name ${options.rename}: give --dataset with --rename`);
  }
  const view = readVtoc(volume);
  const placements = elements.map((element): DatasetPlacement => {
    const format1 = tapeFormat1(element);
    const name = checkDatasetName(options.rename ?? format1.dsname);
    const existing = findDataset(view, name);
    if (!existing) return { element, name, format1, mode: 'allocate' };
    if (!options.replace) {
      throw new TargetExistsError(
        `Cannot restore ${name} onto ${view.label.volser} (${volume.path}): a data set of that name exists (use --replace, or --rename NEWNAME)`,
        { path: volume.path, dsname: name },
      );
    }
    return { element, name, format1, existing, mode: existing.trackCount >= element.blockCount ? 'reuse' : 'reallocate' };
  });
  // Reused extents are written as they are: they must be clear of the label, the VTOC and the
  // other data sets (a damaged VTOC is refused, as for put). Fresh ones are checked by allocation.
  const reused = placements.filter((p) => p.mode === 'reuse');
  if (reused.length > 0)
    guardDatasetWrites(
      volume,
      view,
      reused.map((p) => writePlanOf(p.existing as DatasetEntry)),
      'restore',
    );
  const fresh = placements.filter((p) => p.mode !== 'reuse');
  checkAllocationsFit(
    volume,
    fresh.map(allocationOf),
    fresh.filter((p) => p.mode === 'reallocate').map((p) => p.name),
  );
  return placements;
}

/**
 * Deletes every namesake that is reallocated, before any data set is placed: the plan frees them
 * all first (checkAllocationsFit), so the first fit of the writes is the one that was checked.
 * Freed one by one between the allocations, a data set placed earlier could miss their tracks and
 * fail half-way through the restore.
 */
export function freeReallocatedNamesakes(volume: Volume, placements: readonly DatasetPlacement[]): void {
  const names = placements.filter((p) => p.mode === 'reallocate').map((p) => p.name);
  if (names.length > 0) deleteDatasets(volume, names);
}

/** Writes one planned data set (its namesake freed already): its extents, its tracks relocated into them, its Format-1. Returns the tracks written. */
export function writeDatasetRestore(volume: Volume, tape: BackupTape, placement: DatasetPlacement): number {
  const geometry = volume.ckd;
  const { element, format1 } = placement;
  const entry = placement.mode === 'reuse' ? (placement.existing as DatasetEntry) : allocateDataset(volume, allocationOf(placement));
  const targets = datasetTrackIndexes(geometry, entry);
  forEachBlock(tape, element, (block, j) => {
    const t = targets[j] as number;
    const source = { path: `${tape.path} block ${element.firstBlockNumber + j}`, trackIndex: j };
    // The block is the track's used bytes: restore-tape.ts checked that each decodes.
    volume.writeTrackImages(t, [relocateTrackImage(block, cchhOf(geometry, t), source)]);
  });
  // The data set's own attributes come from the tape; its name, extents and chain are the target's.
  writeDscb(
    volume,
    entry.format1Address,
    encodeFormat1({
      ...entry.format1,
      dsorg: format1.dsorg,
      recfm: format1.recfm,
      blockSize: format1.blockSize,
      recordLength: format1.recordLength,
      keyLength: format1.keyLength,
      lastUsed: format1.lastUsed,
      trackBalance: format1.trackBalance,
      created: format1.created,
    }),
  );
  return element.blockCount;
}
