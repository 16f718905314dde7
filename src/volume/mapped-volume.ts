/**
 * Creating and opening mapped volumes (a track directory over a subsystem's shared pool) as
 * Volumes. A new mapped volume is a directory with every track unallocated; initialising it (VOL1,
 * VTOC) is its first copy-on-write. `openVolume` recognises a mapped volume by its magic.
 */
import { EMPTY_TRACK_BYTES } from '../ckd/track-layout.js';
import { UsageError } from '../errors/snaptape-error.js';
import { parseGeometry } from '../geometry/volume-geometry.js';
import { MappedVolumeBackend, type MappedBackendOptions } from '../subsystem/mapped-volume-backend.js';
import { checkVolumeName, subsystemDirOf } from '../subsystem/mapped-volumes.js';
import { UNALLOCATED_SLOT } from '../subsystem/subsystem-layouts.js';
import { TrackDirectory } from '../subsystem/track-directory.js';
import { readPoolShape } from '../subsystem/track-pool.js';
import { checkVolser } from '../vtoc/dataset-attributes.js';
import { initializeNewVolume } from '../vtoc/volume-init.js';
import { TrackSizeTable } from './track-size-table.js';
import { Volume } from './volume.js';

export interface CreateMappedVolumeOptions {
  readonly type: string;
  readonly cylinders?: number;
  readonly volser: string;
  readonly owner?: string;
  readonly vtocTracks?: number;
  readonly force?: boolean;
  /** Create the directory only: no VOL1, no VTOC (a snapshot target before its pointer copy). */
  readonly bare?: boolean;
}

/** Creates a mapped volume: a track directory in a subsystem folder whose tracks live in the shared pool. Returns it open, or nothing with `bare: true` (the directory only, for a snapshot target). Throws UsageError for a bad volser or name, or a pool of another device family. */
export function createMappedVolume(path: string, options: CreateMappedVolumeOptions & { bare?: false }): Volume;
export function createMappedVolume(path: string, options: CreateMappedVolumeOptions & { bare: true }): undefined;
export function createMappedVolume(path: string, options: CreateMappedVolumeOptions): Volume | undefined {
  const volser = options.bare ? '' : checkVolser(options.volser);
  checkVolumeName(path);
  const dir = subsystemDirOf(path);
  const shape = readPoolShape(dir);
  const geometry = parseGeometry(options.type, { cylinders: options.cylinders });
  if (geometry.kind !== 'ckd' || geometry.family !== shape.family) {
    throw new UsageError(`Cannot create a ${geometry.typeName} mapped volume in ${dir}: its pool holds ${shape.family.family} track slots`, { path });
  }
  TrackDirectory.create(path, geometry, { force: options.force });
  if (options.bare) return undefined;
  const volume = new Volume(MappedVolumeBackend.open(path, dir), TrackSizeTable.uniform(geometry.trackCount, EMPTY_TRACK_BYTES));
  return initializeNewVolume(volume, { volser, owner: options.owner, vtocTracks: options.vtocTracks });
}

/** The size table a mapped directory implies: an upper bound, exact for unallocated tracks. */
export function sizeTableOf(backend: MappedVolumeBackend): TrackSizeTable {
  const d = backend.directory;
  const sizes = new Uint32Array(d.geometry.trackCount);
  for (let t = 0; t < sizes.length; t++) sizes[t] = d.slots[t] === UNALLOCATED_SLOT ? EMPTY_TRACK_BYTES : Math.max(EMPTY_TRACK_BYTES, d.extents[t] as number);
  return new TrackSizeTable(sizes);
}

export function openMappedVolume(path: string, options: MappedBackendOptions = {}): Volume {
  return new Volume(MappedVolumeBackend.open(path, subsystemDirOf(path), options));
}
