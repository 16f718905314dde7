/**
 * `fill`: allocates data sets FILL.Dnnnn over a share of the free space and writes deterministic
 * pseudo-random blocks into them, for experiments and benchmarks. Each track holds two 27,998-byte
 * blocks (half-track blocking, the densest common layout on a 3390) followed, on the data set's
 * last track, by the EOF record. Every block starts with a stamp (seed, track, block) over data
 * drawn from a pool made from the seed, so the content is unique per block and cheap to make.
 */
import { PhaseReporter, type OnPhaseProgress } from '../base/phase-progress.js';
import { Prng } from '../base/prng.js';
import { UsageError } from '../errors/snaptape-error.js';
import { encodeTrack } from '../ckd/track-codec.js';
import { cchhOf } from '../geometry/cchh.js';
import { recordsPerTrack, trackBalanceBytes } from '../geometry/track-capacity.js';
import type { Volume } from '../volume/volume.js';
import { allocateDataset, deleteDatasets, ensureVtoc } from './dataset-allocator.js';
import { checkRoomForTrackWrites } from '../volume/host-space.js';
import { RECFM_BITS } from './dataset-attributes.js';
import { encodeFormat1 } from './dscb-codec.js';
import { datasetTrackIndexes } from './dataset-tracks.js';
import { summarizeFreeSpace, usedTrackMap } from './free-space.js';
import { writeDscb } from './vtoc-writer.js';
import { readVtoc } from './vtoc-reader.js';

/** Largest block of which two fit on a 3390 track. */
const FILL_BLOCK_BYTES = 27998;
/** Cylinders per fill data set: big enough to be realistic, small enough to spread over the volume. */
const FILL_DATASET_CYLINDERS = 100;
/** Distinct pool blocks the data is drawn from. */
const POOL_BLOCKS = 16;
const STAMP_BYTES = 16;

export interface FillOptions {
  readonly seed: number;
  /** Share of the free tracks to fill, 1-100. */
  readonly percent: number;
  /** Told the write phase: tracks written of the tracks the fill takes. */
  readonly onProgress?: OnPhaseProgress;
}

export interface FillResult {
  readonly datasets: string[];
  readonly tracksWritten: number;
  readonly bytesWritten: number;
}

/** Fills a share of the free space of a CKD volume with data sets of deterministic pseudo-random blocks. Throws UsageError for a share outside 1-100%. */
export function fillVolume(volume: Volume, options: FillOptions): FillResult {
  const geometry = volume.ckd;
  if (!(options.percent > 0 && options.percent <= 100)) throw new UsageError(`Cannot fill ${volume.path}: --percent must be 1-100`);
  const view = ensureVtoc(volume);
  const free = summarizeFreeSpace(geometry, usedTrackMap(geometry, view));
  const remaining = Math.floor((free.freeTracks * options.percent) / 100);
  const blockBytes = Math.min(FILL_BLOCK_BYTES, geometry.family.r1MaxBytes);
  const perTrack = Math.min(2, recordsPerTrack(geometry.family, { keyLength: 0, dataLength: blockBytes }));
  const prng = new Prng(options.seed);
  const pool = Array.from({ length: POOL_BLOCKS }, () => {
    const b = Buffer.alloc(blockBytes);
    prng.fill(b);
    return b;
  });
  // Before the first byte: room on the host for every track the fill writes (issue 18.5).
  checkRoomForTrackWrites(volume, remaining, `fill ${remaining} tracks of`);
  const existing = new Set(view.datasets.map((d) => d.name));
  const result = { datasets: [] as string[], tracksWritten: 0, bytesWritten: 0 };
  const progress = new PhaseReporter(options.onProgress);
  progress.begin('write', remaining, 'tracks');
  try {
    fillDatasets(volume, options, { remaining, blockBytes, perTrack, prng, pool, existing, progress }, result);
  } catch (error) {
    // A failed fill leaves no data set of its own: its tracks were free space and stay free (each
    // is whole, see Volume.storeTrackImage), and the VTOC lists what it listed before.
    // A name is noted before its allocation, which may itself have failed: delete what exists.
    const listed = new Set(readVtoc(volume).datasets.map((d) => d.name));
    const created = result.datasets.filter((name) => !existing.has(name) && listed.has(name));
    if (created.length > 0) deleteDatasets(volume, created);
    throw error;
  }
  return result;
}

interface FillPlan {
  readonly remaining: number;
  readonly blockBytes: number;
  readonly perTrack: number;
  readonly prng: Prng;
  readonly pool: readonly Buffer[];
  readonly existing: ReadonlySet<string>;
  readonly progress: PhaseReporter;
}

/** Allocates and writes the fill data sets; `result.datasets` names each just before it is allocated. */
function fillDatasets(volume: Volume, options: FillOptions, plan: FillPlan, result: { datasets: string[]; tracksWritten: number; bytesWritten: number }): void {
  const geometry = volume.ckd;
  const { blockBytes, perTrack, prng, pool, existing } = plan;
  let remaining = plan.remaining;
  let serial = 1;
  while (remaining >= 2) {
    let name = `FILL.D${String(serial).padStart(4, '0')}`;
    while (existing.has(name)) name = `FILL.D${String(++serial).padStart(4, '0')}`;
    serial++;
    const tracks = Math.min(remaining, FILL_DATASET_CYLINDERS * geometry.heads);
    result.datasets.push(name);
    const entry = allocateDataset(volume, { name, tracks, dsorg: 'PS', recfm: RECFM_BITS.U, recordLength: 0, blockSize: blockBytes });
    const indexes = datasetTrackIndexes(geometry, entry);
    const images: Buffer[] = indexes.map((t, i) => {
      const cchh = cchhOf(geometry, t);
      const last = i === indexes.length - 1;
      const records = last
        ? []
        : Array.from({ length: perTrack }, (_, b) => {
            const data = Buffer.from(pool[prng.below(POOL_BLOCKS)] as Buffer);
            data.writeUInt32BE(options.seed >>> 0, 0);
            data.writeUInt32BE(t, 4);
            data.writeUInt32BE(b, 8);
            data.writeUInt32BE(prng.nextUint32(), STAMP_BYTES - 4);
            return { cylinder: cchh.cylinder, head: cchh.head, record: b + 1, key: Buffer.alloc(0), data };
          });
      if (last) records.push({ cylinder: cchh.cylinder, head: cchh.head, record: 1, key: Buffer.alloc(0), data: Buffer.alloc(0) });
      return encodeTrack({ cchh, r0Data: Buffer.alloc(8), records });
    });
    // One chain call per contiguous run of tracks (a fill data set is usually one extent).
    let start = 0;
    for (let i = 1; i <= indexes.length; i++) {
      if (i === indexes.length || indexes[i] !== (indexes[i - 1] as number) + 1) {
        volume.writeTrackImages(indexes[start] as number, images.slice(start, i));
        plan.progress.advance(i - start);
        start = i;
      }
    }
    writeDscb(
      volume,
      entry.format1Address,
      encodeFormat1({
        ...entry.format1,
        lastUsed: (indexes.length - 1) * 256 + 1,
        trackBalance: trackBalanceBytes(geometry.family, [{ keyLength: 0, dataLength: 0 }]),
      }),
    );
    result.tracksWritten += indexes.length;
    result.bytesWritten += (indexes.length - 1) * perTrack * blockBytes;
    remaining -= tracks;
  }
}
