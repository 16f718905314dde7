/**
 * Shared pieces of the snapshot tests: a subsystem folder with a small mapped source volume, and
 * the expected slot content of a whole-track write (the model the property tests compare with).
 */
import { join } from 'node:path';
import { encodeTrack, numberRecords } from '../../../src/ckd/track-codec.js';
import { R0_DATA_BYTES } from '../../../src/ckd/track-layout.js';
import { FAMILY_3390 } from '../../../src/geometry/device-types.js';
import { cchhOf } from '../../../src/geometry/cchh.js';
import type { CkdGeometry } from '../../../src/geometry/volume-geometry.js';
import { createMappedVolume } from '../../../src/volume/mapped-volume.js';
import { initSubsystem } from '../../../src/subsystem/track-pool.js';
import type { Volume } from '../../../src/volume/volume.js';
import { Prng } from '../../../src/base/prng.js';

export const DATA_FIRST_TRACK = 2; // track 0: VOL1; track 1: the VTOC (vtocTracks: 1)

/** A subsystem with a 2-cylinder mapped source volume (30 tracks) whose data tracks are half written. */
export function makeSubsystem(dir: string, options: { cylinders?: number; seed?: number } = {}): { sub: string; source: string } {
  const sub = join(dir, 'sub');
  initSubsystem(sub, FAMILY_3390);
  const source = join(sub, 'SRC');
  const volume = createMappedVolume(source, { type: '3390', cylinders: options.cylinders ?? 2, volser: 'SRC001', vtocTracks: 1 });
  try {
    const prng = new Prng(options.seed ?? 1);
    for (let t = DATA_FIRST_TRACK; t < volume.ckd.trackCount; t += 2) {
      volume.writeTrackRecords(t, [{ key: Buffer.alloc(0), data: Buffer.alloc(100 + prng.below(4000), 1 + prng.below(250)) }]);
    }
  } finally {
    volume.close();
  }
  return { sub, source };
}

/** The whole slot after `writeTrackRecords(t, records)` on a track whose R0 is standard. */
export function expectedSlot(geometry: CkdGeometry, trackIndex: number, records: ReadonlyArray<{ key: Buffer; data: Buffer }>): Buffer {
  const cchh = cchhOf(geometry, trackIndex);
  const image = encodeTrack({ cchh, r0Data: Buffer.alloc(R0_DATA_BYTES), records: numberRecords(cchh, records) });
  const slot = Buffer.alloc(geometry.trackSlotBytes);
  image.copy(slot);
  return slot;
}

export function readAllSlots(volume: Volume): Buffer[] {
  const out: Buffer[] = [];
  for (let t = 0; t < volume.ckd.trackCount; t++) out.push(volume.backend.readUnit(t, volume.backend.slotBytes));
  return out;
}
