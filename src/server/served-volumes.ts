/**
 * The volumes a server owns: each opened once (for writing unless read-only, so the server holds
 * its `<image>.lock`), exported over NBD under its name, and addressed by that name in the control
 * API. Name rule (`exportNameFor`): the image file's basename without its last extension, so
 * `/data/src001.ckd` is `src001`; two images with one name are refused.
 *
 * Invariants: names are unique; `closeAll` syncs and closes every volume once, releasing the locks,
 * and keeps going past a volume that fails to close (the first failure is rethrown at the end).
 */
import { resolve } from 'node:path';
import { openVolume } from '../volume/open-volume.js';
import { ChangeTracker } from '../techniques/tracking/change-tracker.js';
import { dirtyContextsOf } from './dirty-contexts.js';
import { UsageError, isSnaptapeError } from '../errors/snaptape-error.js';
import { VolumeBackend, exportNameFor } from '../export/volume-backend.js';
import { MAX_EXPORTS } from '../export/nbd-constants.js';
import type { Volume } from '../volume/volume.js';
import { readVolumeLabel } from '../vtoc/volume-label.js';
import { decodeEbcdicTrimmed } from '../base/ebcdic.js';
import { ControlError } from './control-error.js';
import type { VolumeInfo } from '../control-api/control-api-types.js';

export interface ServedVolume {
  readonly name: string;
  readonly volume: Volume;
  readonly backend: VolumeBackend;
}

export class ServedVolumes {
  // Set once.
  private readonly byName: ReadonlyMap<string, ServedVolume>;
  // Main thread only.
  private closed = false;

  private constructor(entries: readonly ServedVolume[]) {
    this.byName = new Map(entries.map((entry) => [entry.name, entry]));
  }

  /** Opens every image, or none: on a failure the ones already open are closed again. No image at all is refused unless `allowNone` (a server of tapes only). */
  static open(imagePaths: readonly string[], options: { readOnly: boolean; allowNone?: boolean }): ServedVolumes {
    if (imagePaths.length === 0 && options.allowNone !== true) throw new UsageError('Cannot serve: no image given');
    if (imagePaths.length > MAX_EXPORTS) throw new UsageError(`Cannot serve ${imagePaths.length} images: at most ${MAX_EXPORTS}`);
    const entries: ServedVolume[] = [];
    try {
      for (const path of imagePaths) {
        const name = exportNameFor(path);
        const twin = entries.find((e) => e.name === name);
        if (twin) throw new UsageError(`Cannot serve ${path}: its export name '${name}' is also the name of ${twin.volume.path}`, { path, exportName: name });
        const volume = openVolume(resolve(path), { readOnly: options.readOnly });
        // The size table now, before the server listens: were it stale, its scan of every track
        // would otherwise run on a client's first write, with every connection waiting behind it.
        if (volume.geometry.kind === 'ckd') volume.trackSizes();
        // Writes from NBD clients are host writes: a tracked volume's tracker sees them.
        try {
          ChangeTracker.attach(volume);
        } catch (error) {
          volume.close();
          throw error;
        }
        const backend = new VolumeBackend(volume, { name });
        backend.addMetaContextProvider(() => dirtyContextsOf(volume));
        entries.push({ name, volume, backend });
      }
    } catch (error) {
      for (const entry of entries) entry.volume.close();
      throw error;
    }
    return new ServedVolumes(entries);
  }

  list(): ServedVolume[] {
    return [...this.byName.values()];
  }

  backends(): VolumeBackend[] {
    return this.list().map((entry) => entry.backend);
  }

  get(name: string): ServedVolume {
    const entry = this.byName.get(name);
    if (!entry)
      throw new ControlError('UNKNOWN_VOLUME', `Cannot find volume '${name}': this server serves ${[...this.byName.keys()].join(', ')}`, { volume: name });
    return entry;
  }

  describe(entry: ServedVolume): VolumeInfo {
    const { volume } = entry;
    return {
      name: entry.name,
      path: volume.path,
      format: volume.geometry.kind,
      deviceType: volume.geometry.typeName,
      volser: volserOf(volume),
      readOnly: volume.readOnly,
      unitCount: volume.unitCount,
      slotBytes: volume.backend.slotBytes,
      exportSizeBytes: volume.flatSizeBytes,
      interceptors: volume.interceptorNames(),
    };
  }

  /** Syncs and closes every volume (releasing its lock). Idempotent. */
  closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    let first: unknown;
    for (const { volume } of this.byName.values()) {
      try {
        if (!volume.readOnly) volume.sync();
      } catch (error) {
        first ??= error;
      }
      try {
        volume.close();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw first;
  }
}

/** The volser from the label; NBD clients may have overwritten it, so a bad label reads as "". */
function volserOf(volume: Volume): string {
  try {
    if (volume.geometry.kind === 'ckd') return readVolumeLabel(volume).volser;
    const block1 = volume.readBlocks(1, 1);
    return decodeEbcdicTrimmed(block1.subarray(0, 4)) === 'VOL1' ? decodeEbcdicTrimmed(block1.subarray(4, 10)) : '';
  } catch (error) {
    if (isSnaptapeError(error)) return '';
    throw error;
  }
}
