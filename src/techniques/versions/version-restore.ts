/**
 * `version restore` (issue 9, Build 5): restores one data set, or one whole source volume, from the
 * tape the storage media inventory names for that version. A data set is restored into a new volume
 * (the backup data set inventory says which source volume, and so which tape, holds it).
 */
import { listBackupDatasets, listStorageMedia, getVersion, type StorageMedium } from '../../catalog/catalog-records.js';
import type { Catalog } from '../../catalog/catalog.js';
import { DatasetError, UsageError } from '../../errors/snaptape-error.js';
import { withVolume } from '../../volume/open-volume.js';
import { describeVolume } from '../../vtoc/volume-listing.js';
import { deleteDatasets } from '../../vtoc/dataset-allocator.js';
import { restoreTape, type RestoreResult } from '../restore/restore-tape.js';

export interface VersionRestoreOptions {
  readonly version: number;
  /** A data set name; without it `sourcePath` names the whole volume to restore. */
  readonly dataset?: string;
  readonly sourcePath?: string;
  readonly to: string;
  readonly newVolume?: boolean;
  readonly force?: boolean;
}

function mediumFor(catalog: Catalog, version: number, sourcePath: string): StorageMedium {
  const state = getVersion(catalog.db, version)?.state;
  if (state === undefined || state === 'creating') throw new UsageError(`Cannot restore from version ${version}: it is ${state ?? 'absent'}`);
  const medium = listStorageMedia(catalog.db, version).find((m) => m.sourcePath === sourcePath);
  if (!medium) throw new UsageError(`Cannot restore ${sourcePath} from version ${version}: the storage media inventory names no tape for it`);
  return medium;
}

/** What a version restore did: the restore, the tape it read, and what it restored (a data set, or the volume's elements). */
export type VersionRestoreResult = RestoreResult & { readonly tapePath: string; readonly restored: readonly string[] };

/** Restores a volume, or one data set, from a copy version recorded in the catalog. Throws DatasetError when no source volume of the version, or more than one, holds the data set. */
export function restoreFromVersion(catalog: Catalog, options: VersionRestoreOptions): VersionRestoreResult {
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
    // The version's tapes hold whole volumes: the volume comes back whole, then every other data
    // set is deleted from its VTOC, so the new volume holds this data set at its own tracks.
    const result = restoreTape(medium.tapePath, { to: options.to, newVolume: true, force: options.force });
    withVolume(options.to, {}, (volume) => {
      deleteDatasets(
        volume,
        describeVolume(volume)
          .datasets.map((d) => d.name)
          .filter((n) => n !== name),
      );
      volume.sync();
    });
    return { ...result, tapePath: medium.tapePath, restored: [name] };
  }
  if (options.sourcePath === undefined) throw new UsageError('Cannot restore from a version: name a data set or a source volume');
  const medium = mediumFor(catalog, options.version, options.sourcePath);
  const result = restoreTape(medium.tapePath, { to: options.to, newVolume: options.newVolume ?? true, force: options.force });
  return { ...result, tapePath: medium.tapePath, restored: result.elements.map((e) => e.name) };
}
