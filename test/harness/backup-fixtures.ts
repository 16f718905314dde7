/**
 * Small volumes for backup tests: a filled 3390 of a few cylinders in a temp dir, and helpers to
 * drive random host writes of every kind (format write, update write, whole-track image, raw flat
 * write) while a session runs.
 */
import { join } from 'node:path';
import { createVolume } from '../../src/api/volume-api.js';
import { Prng } from '../../src/base/prng.js';
import { encodeTrack } from '../../src/ckd/track-codec.js';
import { cchhOf } from '../../src/geometry/cchh.js';
import type { Volume } from '../../src/volume/volume.js';
import { allocateDataset } from '../../src/vtoc/dataset-allocator.js';
import { parseRecfm } from '../../src/vtoc/dataset-attributes.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';

export function makeFilledVolume(dir: string, options: { cylinders: number; seed: number; percent?: number; name?: string }): Volume {
  const volume = createVolume(join(dir, options.name ?? 'source.ckd'), { type: '3390', cylinders: options.cylinders, volser: 'SRC001' });
  allocateDataset(volume, { name: 'PROD.PAYROLL.DATA', tracks: 4, dsorg: 'PS', recfm: parseRecfm('FB'), recordLength: 80, blockSize: 800 });
  fillVolume(volume, { seed: options.seed, percent: options.percent ?? 70 });
  return volume;
}

export type WriteKind = 'format' | 'update' | 'image' | 'flat';

/** One host write of a random kind to track `track`. Returns the kind used. */
export function randomHostWrite(volume: Volume, track: number, prng: Prng): WriteKind {
  const geometry = volume.ckd;
  const kinds: WriteKind[] = ['format', 'update', 'image', 'flat'];
  const kind = kinds[prng.below(kinds.length)] as WriteKind;
  const data = Buffer.alloc(1 + prng.below(4000));
  prng.fill(data);
  if (kind === 'update') {
    let record;
    try {
      record = volume.readTrack(track).records[0];
    } catch {
      record = undefined; // A raw write left the track undecodable: format it instead.
    }
    if (record) {
      const same = Buffer.alloc(record.data.length);
      prng.fill(same);
      volume.updateRecord({ ...cchhOf(geometry, track), record: record.record }, same);
      return kind;
    }
  }
  if (kind === 'image') {
    const cchh = cchhOf(geometry, track);
    volume.writeTrackImages(track, [encodeTrack({ cchh, r0Data: Buffer.alloc(8), records: [{ ...cchh, record: 1, key: Buffer.alloc(0), data }] })]);
    return kind;
  }
  if (kind === 'flat') {
    // A raw write inside the track's slot, past its home address and R0 (the slot may stop decoding).
    const offset = track * volume.backend.slotBytes + 40 + prng.below(1000);
    volume.writeFlat(offset, data.subarray(0, Math.min(data.length, 500)));
    return kind;
  }
  volume.writeTrackRecords(track, [{ key: Buffer.alloc(0), data }]);
  return 'format';
}

export { Prng };
