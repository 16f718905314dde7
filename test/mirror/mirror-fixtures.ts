/**
 * Helpers of the mirror tests: a filled primary and blank secondaries of its shape, byte
 * comparison with cmp(1), and a seeded writer that runs random host writes between event-loop
 * turns (so background copies and sessions interleave with them) until told to stop.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createVolume } from '../../src/api/volume-api.js';
import type { Volume } from '../../src/volume/volume.js';
import { Prng, randomHostWrite } from '../harness/backup-fixtures.js';

export const CYLINDERS = 6;

export function seedFromEnv(label: string): number {
  const seed = Number(process.env['SNAPTAPE_SEED'] ?? Date.now() % 1_000_000);
  console.log(`${label} seed ${seed} (replay with SNAPTAPE_SEED=${seed})`);
  return seed;
}

/** A blank 3390 of the primary's size (created, then closed). */
export function makeBlankSecondary(dir: string, name: string, cylinders = CYLINDERS): string {
  const path = join(dir, name);
  createVolume(path, { type: '3390', cylinders, volser: 'SEC001' }).close();
  return path;
}

/** cmp(1) of two files: true when byte-identical. */
export function filesIdentical(a: string, b: string): boolean {
  const result = spawnSync('cmp', ['-s', a, b]);
  return result.status === 0;
}

export interface Writer {
  /** Tracks written so far. */
  readonly tracks: Set<number>;
  writes(): number;
  /** Stops after the write in progress. */
  stop(): Promise<void>;
  /** Waits for all `maxWrites` writes. */
  finish(): Promise<void>;
}

/** Random host writes, one per event-loop turn, to tracks past cylinder 0 (or `pick`), until stopped. */
export function startWriter(volume: Volume, prng: Prng, options: { maxWrites: number; pick?: () => number }): Writer {
  const tracks = new Set<number>();
  const heads = volume.ckd.heads;
  const span = volume.ckd.trackCount - heads;
  let stopped = false;
  let count = 0;
  let failure: unknown;
  const done = new Promise<void>((resolve) => {
    const step = (): void => {
      if (stopped || count >= options.maxWrites) return resolve();
      try {
        const track = options.pick?.() ?? heads + prng.below(span);
        randomHostWrite(volume, track, prng);
        tracks.add(track);
        count++;
      } catch (error) {
        failure = error;
        return resolve();
      }
      setImmediate(step);
    };
    setImmediate(step);
  });
  return {
    tracks,
    writes: () => count,
    finish: async () => {
      await done;
      if (failure !== undefined) throw failure;
    },
    stop: async () => {
      stopped = true;
      await done;
      if (failure !== undefined) throw failure;
    },
  };
}

export { Prng };

/** A raw write of 1-2000 random bytes into a random track past cylinder 0 (label and VTOC stay). */
export function randomHostWriteOf(volume: Volume, prng: Prng): number {
  const slot = volume.backend.slotBytes;
  const heads = volume.ckd.heads;
  const track = heads + prng.below(volume.unitCount - heads);
  const length = 1 + prng.below(2000);
  const data = Buffer.alloc(length);
  prng.fill(data);
  volume.writeFlat(track * slot + prng.below(slot - length), data);
  return track;
}

/**
 * A write to a random track past cylinder 0 that grows, shrinks or zeroes it, as a host may: two
 * small records (a sparse track), raw bytes anywhere in the slot (past the end marker too),
 * written zeros from mid-slot on (into the next slots too), a zero fill (WRITE_ZEROES) starting
 * and ending mid-slot, one large record, or no records at all.
 */
export function randomSparseWriteOf(volume: Volume, prng: Prng): number {
  const slot = volume.backend.slotBytes;
  const heads = volume.ckd.heads;
  const track = heads + prng.below(volume.unitCount - heads);
  const at = track * slot;
  const end = volume.unitCount * slot;
  const record = (bytes: number): { key: Buffer; data: Buffer } => ({ key: Buffer.alloc(0), data: Buffer.alloc(bytes, 1 + prng.below(255)) });
  const pick = prng.below(6);
  if (pick === 0) volume.writeTrackRecords(track, [record(1 + prng.below(3000)), record(1 + prng.below(3000))]);
  else if (pick === 1) return randomHostWriteOf(volume, prng);
  else if (pick === 2) {
    const from = at + prng.below(slot);
    volume.writeFlat(from, Buffer.alloc(Math.min(end - from, slot - (from - at) + prng.below(2 * slot))));
  } else if (pick === 3) {
    const from = at + prng.below(slot);
    volume.zeroFlat(from, Buffer.alloc(Math.min(end - from, 1 + prng.below(3 * slot))));
  } else if (pick === 4) volume.writeTrackRecords(track, [record(20_000 + prng.below(36_000))]);
  else volume.writeTrackRecords(track, []);
  return track;
}

/** The largest record a 3390 track holds with no key (one record per track). */
export const FULL_TRACK_RECORD = 56664;

/** The bytes a file takes on disk (its allocated blocks). */
export function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}

/** Two small records on every `every`-th track past cylinder 0: a sparse volume. */
export function writeSparse(volume: Volume, every: number, fill: number): void {
  for (let t = volume.ckd.heads; t < volume.ckd.trackCount; t += every)
    volume.writeTrackRecords(t, [
      { key: Buffer.alloc(0), data: Buffer.alloc(2000, fill) },
      { key: Buffer.alloc(0), data: Buffer.alloc(1500, fill + 1) },
    ]);
}

/** One full-track record on every track past cylinder 0: a dense volume. */
export function writeFull(volume: Volume, fill: number): void {
  for (let t = volume.ckd.heads; t < volume.ckd.trackCount; t++)
    volume.writeTrackRecords(t, [{ key: Buffer.alloc(0), data: Buffer.alloc(FULL_TRACK_RECORD, (t + fill) & 0xff) }]);
}
