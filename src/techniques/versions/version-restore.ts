/**
 * `version restore` (issue 9, Build 5; issue 21): restores one data set, or one whole source volume,
 * from the copy the storage media inventory names for that version: a tape of a tape pair, or the
 * target volume of a clone or snapshot pair. A data set is restored into a new volume (the backup
 * data set inventory says which source volume, and so which copy, holds it).
 *
 * A target volume holds its version only until the next version of the same target pool copies
 * onto it, so a version restores only while it is the complete version of its pool.
 */
import { listBackupDatasets, listStorageMedia, getVersion, type StorageMedium } from '../../catalog/catalog-records.js';
import type { Catalog } from '../../catalog/catalog.js';
import { DatasetError, TargetExistsError, UsageError } from '../../errors/snaptape-error.js';
import { existsSync } from 'node:fs';
import { createVolume, openVolume, withVolume } from '../../volume/open-volume.js';
import { describeVolume } from '../../vtoc/volume-listing.js';
import { deleteDatasets } from '../../vtoc/dataset-allocator.js';
import { runClone } from '../clone/clone-run.js';
import { restoreTape } from '../restore/restore-tape.js';
import { samePath } from '../tape-backup/tape-target.js';
import type { OnPhaseProgress } from '../../base/phase-progress.js';

export interface VersionRestoreOptions {
  readonly version: number;
  /** A data set name; without it `sourcePath` names the whole volume to restore. */
  readonly dataset?: string;
  readonly sourcePath?: string;
  readonly to: string;
  readonly newVolume?: boolean;
  readonly force?: boolean;
  /** A tape copy: as restoreTape reports it (SHA-256, then copy); a clone or snapshot copy: the clone's copy. */
  readonly onProgress?: OnPhaseProgress;
}

function mediumFor(catalog: Catalog, version: number, sourcePath: string): StorageMedium {
  const row = getVersion(catalog.db, version);
  if (row === undefined || row.state === 'creating') throw new UsageError(`Cannot restore from version ${version}: it is ${row?.state ?? 'absent'}`);
  const medium = listStorageMedia(catalog.db, version).find((m) => m.sourcePath === sourcePath);
  if (!medium) throw new UsageError(`Cannot restore ${sourcePath} from version ${version}: the storage media inventory names no copy of it`);
  if (row.state === 'replaced')
    throw new UsageError(
      `Cannot restore ${sourcePath} from version ${version}: it was replaced, and its ${medium.technology} target ${medium.copyPath} now holds a later version of pool ${row.targetPool}`,
    );
  return medium;
}

/** What a version restore did: where it restored to, the copy it read, and what it restored (a data set, or the volume's elements). */
export interface VersionRestoreResult {
  readonly to: string;
  readonly newVolume: boolean;
  readonly technology: StorageMedium['technology'];
  /** The copy it read: a tape file, or a target volume. */
  readonly copyPath: string;
  readonly restored: readonly string[];
}

/** Brings a whole copy back into a new volume `to`: a tape by restoring it, a target volume by cloning it. Returns the names of what it restored. */
async function restoreWhole(
  medium: StorageMedium,
  options: { to: string; newVolume: boolean; force?: boolean; onProgress?: OnPhaseProgress },
): Promise<string[]> {
  // The new volume is made (or the existing one written) before the copy is read: over the copy itself, the version would be gone.
  if (samePath(options.to, medium.copyPath))
    throw new UsageError(
      `Cannot restore ${medium.sourcePath} from version ${medium.version} into ${options.to}: it is the copy of version ${medium.version} (${medium.technology} on ${medium.copyPath}); restore into another volume`,
      { path: options.to, copyPath: medium.copyPath },
    );
  if (medium.technology === 'tape') {
    const result = restoreTape(medium.copyPath, {
      to: options.to,
      newVolume: options.newVolume,
      force: options.force,
      tapeStartBlock: medium.tapeStartBlock ?? undefined,
      onProgress: options.onProgress,
    });
    return result.elements.map((e) => e.name);
  }
  if (!options.newVolume)
    throw new UsageError(
      `Cannot restore ${medium.sourcePath} into the existing volume ${options.to}: a ${medium.technology} version restores into a new volume only`,
    );
  if (existsSync(options.to) && !options.force)
    throw new TargetExistsError(`Cannot restore into a new volume ${options.to}: the file exists (use --force)`, { path: options.to });
  // A new volume of the copy's type and size, without a VTOC of its own: the clone brings track 0 and the VTOC.
  const listing = withVolume(medium.copyPath, { readOnly: true }, (volume) => describeVolume(volume));
  createVolume(options.to, {
    type: listing.format === 'fba' ? 'fba' : listing.deviceType,
    cylinders: listing.format === 'fba' ? undefined : (listing.cylinders ?? undefined),
    blocks: listing.format === 'fba' ? (listing.blocks ?? undefined) : undefined,
    volser: listing.volser || 'RESTOR',
    vtocTracks: 0,
    force: options.force,
  }).close();
  await runClone(medium.copyPath, options.to, { onProgress: options.onProgress });
  const volume = openVolume(options.to, { readOnly: true });
  try {
    return describeVolume(volume).datasets.map((d) => d.name);
  } finally {
    volume.close();
  }
}

/** Restores a volume, or one data set, from a copy version recorded in the catalog: from its tape, or from the target volume of a clone or snapshot version. Throws DatasetError when no source volume of the version, or more than one, holds the data set; UsageError when the version is absent, still creating, or a clone or snapshot version that a later version replaced. */
export async function restoreFromVersion(catalog: Catalog, options: VersionRestoreOptions): Promise<VersionRestoreResult> {
  if (options.dataset !== undefined) {
    const name = options.dataset.toUpperCase();
    const holders = listBackupDatasets(catalog.db, options.version).filter((d) => d.dataset === name);
    if (holders.length === 0) throw new DatasetError(`Cannot restore ${name} from version ${options.version}: no source volume of the version holds it`);
    if (holders.length > 1)
      throw new DatasetError(
        `Cannot restore ${name} from version ${options.version}: ${holders.length} source volumes hold it (${holders.map((h) => h.sourcePath).join(', ')})`,
      );
    if (options.newVolume === false)
      throw new UsageError(`Cannot restore ${name} into the existing volume ${options.to}: a version restores a data set into a new volume only`);
    const medium = mediumFor(catalog, options.version, (holders[0] as { sourcePath: string }).sourcePath);
    // Every copy holds a whole volume: the volume comes back whole, then every other data set is
    // deleted from its VTOC, so the new volume holds this data set at its own tracks.
    await restoreWhole(medium, { to: options.to, newVolume: true, force: options.force, onProgress: options.onProgress });
    withVolume(options.to, {}, (volume) => {
      deleteDatasets(
        volume,
        describeVolume(volume)
          .datasets.map((d) => d.name)
          .filter((n) => n !== name),
      );
      volume.sync();
    });
    return { to: options.to, newVolume: true, technology: medium.technology, copyPath: medium.copyPath, restored: [name] };
  }
  if (options.sourcePath === undefined) throw new UsageError('Cannot restore from a version: name a data set or a source volume');
  const medium = mediumFor(catalog, options.version, options.sourcePath);
  const newVolume = options.newVolume ?? true;
  const restored = await restoreWhole(medium, { to: options.to, newVolume, force: options.force, onProgress: options.onProgress });
  return { to: options.to, newVolume, technology: medium.technology, copyPath: medium.copyPath, restored };
}
