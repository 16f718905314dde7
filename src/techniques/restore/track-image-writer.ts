/**
 * Writes a run of track images back to a volume a cylinder at a time, out of one reused buffer:
 * the blocks a tape reader hands over are views into its window, valid only until its next read, so
 * each is copied once, into its track's slot in the cylinder buffer, and never allocated per block.
 * At the end of each cylinder (or of a run of consecutive tracks) the held tracks are written:
 * - tracks whose slot is nearly full go as whole slots (the image, then zeros to the slot's end) in
 *   one write of the volume's flat view: a dense volume costs one system call per cylinder, not per
 *   track;
 * - tracks with a long zero tail (an empty or sparse track) go as track images, which write only the
 *   image and the zeros over what the slot held, so a sparse target stays sparse on disk.
 * A block that does not decode as its track (a host wrote raw bytes over the slot) is written raw
 * into its slot, so the restore is byte-exact either way. Memory: one cylinder of slots.
 */
import { trackUsedBytes } from '../../ckd/track-codec.js';
import { cchhOf } from '../../geometry/cchh.js';
import type { CkdGeometry } from '../../geometry/volume-geometry.js';
import type { Volume } from '../../volume/volume.js';

/**
 * A track whose zero tail is shorter than a file-system page is written as a whole slot: writing the
 * tail costs at most the page it ends in, which the image already occupies.
 */
const WHOLE_SLOT_TAIL_BYTES = 4096;

export class TrackImageWriter {
  // Set once.
  private readonly volume: Volume;
  private readonly geometry: CkdGeometry;
  private readonly slotBytes: number;
  private readonly heads: number;
  private readonly cylinder: Buffer;
  private readonly lengths: Uint32Array;
  // Tracks first .. first + held - 1 are in the cylinder buffer, track first + i at slot i.
  private first = -1;
  private held = 0;

  constructor(volume: Volume) {
    this.volume = volume;
    this.geometry = volume.ckd;
    this.slotBytes = volume.backend.slotBytes;
    this.heads = this.geometry.heads;
    this.cylinder = Buffer.alloc(this.heads * this.slotBytes);
    this.lengths = new Uint32Array(this.heads);
  }

  /** Takes track `track`'s image (copied: `block` may be reused once this returns). */
  write(track: number, block: Buffer): void {
    const decodes = this.decodesAsTrack(block, track);
    if (!decodes || block.length > this.slotBytes) {
      this.flush();
      this.writeOutsideRun(track, block, decodes);
      return;
    }
    const sameCylinder = Math.floor(track / this.heads) === Math.floor(this.first / this.heads);
    if (this.held > 0 && (track !== this.first + this.held || !sameCylinder)) this.flush();
    if (this.held === 0) this.first = track;
    const at = this.held * this.slotBytes;
    block.copy(this.cylinder, at);
    this.lengths[this.held] = block.length;
    this.held++;
    if (track % this.heads === this.heads - 1) this.flush();
  }

  /** Writes what is held; call once after the last track. */
  flush(): void {
    let i = 0;
    while (i < this.held) {
      const whole = this.wholeSlot(i);
      let end = i + 1;
      while (end < this.held && this.wholeSlot(end) === whole) end++;
      if (whole) this.writeWholeSlots(i, end);
      else this.writeImages(i, end);
      i = end;
    }
    this.held = 0;
  }

  private wholeSlot(i: number): boolean {
    return this.slotBytes - (this.lengths[i] as number) < WHOLE_SLOT_TAIL_BYTES;
  }

  private writeWholeSlots(from: number, to: number): void {
    for (let i = from; i < to; i++) this.cylinder.fill(0, i * this.slotBytes + (this.lengths[i] as number), (i + 1) * this.slotBytes);
    this.volume.writeFlat((this.first + from) * this.slotBytes, this.cylinder.subarray(from * this.slotBytes, to * this.slotBytes));
  }

  private writeImages(from: number, to: number): void {
    const images: Buffer[] = [];
    for (let i = from; i < to; i++) images.push(this.cylinder.subarray(i * this.slotBytes, i * this.slotBytes + (this.lengths[i] as number)));
    this.volume.writeTrackImages(this.first + from, images);
  }

  /**
   * A block that does not decode is written raw over its slot; a track image too long for its slot
   * goes to writeTrackImages, which refuses it (TrackOverflowError).
   */
  private writeOutsideRun(track: number, block: Buffer, decodes: boolean): void {
    if (decodes) {
      this.volume.writeTrackImages(track, [block]);
      return;
    }
    const slot = Buffer.alloc(Math.max(block.length, this.volume.trackSizes().get(track)));
    block.copy(slot);
    this.volume.writeFlat(track * this.slotBytes, slot);
  }

  private decodesAsTrack(block: Buffer, track: number): boolean {
    try {
      trackUsedBytes(block, cchhOf(this.geometry, track), { path: 'tape block', trackIndex: 0 });
      return true;
    } catch {
      return false;
    }
  }
}
