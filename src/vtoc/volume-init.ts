/**
 * Initialises a new volume the way an operator expects: track 0 as `dasdinit` writes it (IPL1,
 * IPL2, VOL1), and, unless asked not to, a VTOC right after it so that data sets can be allocated
 * at once. With `vtocTracks: 0` the result is byte-identical to `dasdinit` (VOL1 points at
 * CCHHR 0000000101, which holds nothing).
 *
 * FBA volumes get VOL1 in block 1 (EBCDIC "VOL1" + volser, the rest zeros), as dasdinit writes.
 */
import { encodeEbcdic, encodeEbcdicPadded } from '../base/ebcdic.js';
import { FBA_BLOCK_BYTES } from '../geometry/device-types.js';
import { UsageError } from '../errors/snaptape-error.js';
import type { Volume } from '../volume/volume.js';
import { DEFAULT_OWNER, trackZeroRecords } from './volume-label.js';
import { formatVtoc } from './vtoc-writer.js';

export interface InitOptions {
  readonly volser: string;
  readonly owner?: string;
  /** Tracks of VTOC after track 0; 0 for none (dasdinit). Default: `defaultVtocTracks`. */
  readonly vtocTracks?: number;
}

/** VTOC size when none is asked for: one track (50 DSCBs) on small volumes, the rest of cylinder 0 on real ones. */
export function defaultVtocTracks(cylinders: number, heads: number): number {
  const SMALL_VOLUME_CYLINDERS = 100;
  return cylinders < SMALL_VOLUME_CYLINDERS ? 1 : heads - 1;
}

export function initializeVolume(volume: Volume, options: InitOptions): void {
  if (volume.geometry.kind === 'fba') {
    const block = Buffer.alloc(FBA_BLOCK_BYTES);
    encodeEbcdic('VOL1').copy(block, 0);
    encodeEbcdicPadded(options.volser, 6).copy(block, 4);
    volume.writeBlocks(1, block);
    return;
  }
  const geometry = volume.ckd;
  const vtocTracks = options.vtocTracks ?? defaultVtocTracks(geometry.cylinders, geometry.heads);
  if (vtocTracks < 0 || vtocTracks > geometry.trackCount - 1) {
    throw new UsageError(`Cannot make a VTOC of ${vtocTracks} tracks on ${volume.path}: the volume has ${geometry.trackCount - 1} tracks after track 0`, {
      path: volume.path,
    });
  }
  const vtocPointer = { cylinder: 0, head: 1, record: 1 };
  volume.writeTrackRecords(0, trackZeroRecords({ volser: options.volser, owner: options.owner ?? DEFAULT_OWNER, vtocPointer }));
  if (vtocTracks > 0) formatVtoc(volume, { firstTrack: 1, trackCount: vtocTracks });
}

/** Initialises a volume just created, and closes it (releasing its lock) if that fails. */
export function initializeNewVolume(volume: Volume, options: InitOptions): Volume {
  try {
    initializeVolume(volume, options);
  } catch (error) {
    volume.close();
    throw error;
  }
  return volume;
}
