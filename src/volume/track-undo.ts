/**
 * All-or-nothing for a write of several tracks (a `put`, issue 18.5): before each track is first
 * written its old image is kept, and `undo` writes the kept images back, last first, through the
 * Volume (so the interceptor chain sees them as any other write). A track whose own write failed
 * is not kept: `Volume` has already put it back whole (see storeTrackImage).
 *
 * The write-back needs no new host space: a track written here is at least as long as its old
 * image, and its bytes were allocated by that write. Memory: one old image per track written, no
 * more than the tracks the caller writes.
 */
import { ImageFormatError, IoError } from '../errors/snaptape-error.js';
import { trackUsedBytes } from '../ckd/track-codec.js';
import { cchhOf } from '../geometry/cchh.js';
import type { Volume } from './volume.js';

export class TrackUndo {
  // Main thread only.
  private readonly kept = new Map<number, Buffer>();
  private readonly volume: Volume;

  constructor(volume: Volume) {
    this.volume = volume;
  }

  /** Runs `write` on track `trackIndex`, keeping the track's old image first (the first time only). */
  write(trackIndex: number, write: () => void): void {
    if (this.kept.has(trackIndex)) return write();
    const old = this.volume.readTrackImage(trackIndex);
    write();
    this.kept.set(trackIndex, old);
  }

  /** Writes every kept image back; throws an IoError naming the tracks that could not be. */
  undo(): void {
    const failed: number[] = [];
    for (const [t, old] of [...this.kept].reverse()) {
      try {
        if (decodes(this.volume, t, old)) this.volume.writeTrackImages(t, [old]);
        else this.volume.writeFlat(t * this.volume.backend.slotBytes, old);
      } catch {
        failed.push(t);
      }
    }
    this.kept.clear();
    if (failed.length > 0) {
      throw new IoError(`Cannot undo a failed write to ${this.volume.path}: tracks ${failed.join(', ')} could not be written back`, {
        path: this.volume.path,
        track: failed[0] as number,
      });
    }
  }
}

/** A kept image that is a whole track is written back as one; anything else byte for byte. */
function decodes(volume: Volume, trackIndex: number, image: Buffer): boolean {
  try {
    trackUsedBytes(image, cchhOf(volume.ckd, trackIndex), { path: volume.path, trackIndex });
    return true;
  } catch (error) {
    if (error instanceof ImageFormatError) return false;
    throw error;
  }
}
