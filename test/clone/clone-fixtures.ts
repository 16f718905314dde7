/**
 * Helpers of the clone tests: a filled source and an empty destination of the same geometry, host
 * writes replayed on the destination and on its model (the source at ACTIVATE plus the
 * destination's own writes), and bounded waits that let the copy workers run.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import type { CopyPool } from '../../src/engine/copy-pool.js';
import { openImage } from '../../src/image/open-image.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { allocateDataset } from '../../src/vtoc/dataset-allocator.js';
import { parseRecfm } from '../../src/vtoc/dataset-attributes.js';
import { TrackSizeTable } from '../../src/volume/track-size-table.js';
import { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume, Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { sha256File } from '../harness/dasd.js';
import { runTool } from '../harness/external-tools.js';

export { makeFilledVolume, Prng, randomHostWrite };

export function makeTarget(dir: string, name: string, options: { cylinders: number; type?: string }): Volume {
  return createVolume(join(dir, name), { type: options.type ?? '3390', cylinders: options.cylinders, volser: 'DST001' });
}

/**
 * The model of a destination: the reference image with the source's size table V as it stood at
 * ACTIVATE (a scan would undercount bytes a raw write left past a track's end marker, and then a
 * later write would zero less of the slot than the volume it models).
 */
export function openModel(path: string, sizes: Uint32Array): Volume {
  return new Volume(openImage(path), new TrackSizeTable(sizes));
}

/** One host write, replayed with the same bytes on a second volume (the model). */
export function twinWrite(a: Volume, b: Volume, track: number, seed: number): void {
  let first: unknown;
  let second: unknown;
  try {
    randomHostWrite(a, track, new Prng(seed));
  } catch (error) {
    first = error;
  }
  try {
    randomHostWrite(b, track, new Prng(seed));
  } catch (error) {
    second = error;
  }
  if ((first === undefined) !== (second === undefined)) {
    throw new Error(
      `a write to track ${track} (seed ${seed}) ${first ? 'failed' : 'worked'} on ${a.path} but ${second ? 'failed' : 'worked'} on ${b.path}: ${String(first ?? second)}`,
    );
  }
}

/** Yields to the event loop (and so to the workers' completions) `times` times. */
export async function yieldTimes(times: number): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The whole slot of a track, read through the volume (its read hooks run). */
export function slotOf(volume: Volume, track: number): Buffer {
  const slot = volume.backend.slotBytes;
  return volume.readFlat(track * slot, slot);
}

/** A fresh folder `name` under `root`, for one test's images. */
export function subDir(root: string, name: string): string {
  const path = join(root, name);
  mkdirSync(path, { recursive: true });
  return path;
}

/** Fixed-block 80-byte records, 10 to a block: the extent clone tests' data sets. */
export const FB80 = { dsorg: 'PS', recfm: parseRecfm('FB'), recordLength: 80, blockSize: 800 } as const;

/** A 3390 of 3 cylinders with A.FIRST (tracks 2-4), X.GAP (5-6) and B.SECOND (7-10), after the 1-track VTOC. */
export function makeExtentSource(where: string): Volume {
  const volume = createVolume(join(where, 'src.ckd'), { type: '3390', cylinders: 3, volser: 'SRC001' });
  allocateDataset(volume, { name: 'A.FIRST', tracks: 3, ...FB80 });
  allocateDataset(volume, { name: 'X.GAP', tracks: 2, ...FB80 });
  allocateDataset(volume, { name: 'B.SECOND', tracks: 4, ...FB80 });
  return volume;
}

/** `count` 80-byte records, each stamped with its number and `tag`. */
export function stampedRecords(count: number, tag: number): Buffer {
  const data = Buffer.alloc(count * 80);
  for (let i = 0; i < count; i++) data.fill((i * 7 + tag) & 0xff, i * 80, (i + 1) * 80).writeUInt32BE(i, i * 80);
  return data;
}

/** Hercules `dasdseq` of `dsname` into `cwd`: the file it wrote, after its own report says it did. */
export function dasdseq(image: string, dsname: string, cwd: string): Buffer {
  const r = runTool('dasdseq', [image, dsname], { cwd });
  expect(r.stderr + r.stdout).toMatch(new RegExp(`dasdseq wrote \\d+ records to ${dsname.replace(/\./g, '\\.')}`));
  return readFileSync(join(cwd, dsname));
}

/**
 * An extent clone's CREATE onto `target` is refused with `error` and `message`, and leaves the
 * destination as it was: the same bytes, no record, and no interceptor (the refused CREATE took no
 * PB slot: a whole-volume clone still can).
 */
export function expectCreateRefused(
  source: Volume,
  target: Volume,
  pool: CopyPool,
  datasets: readonly string[],
  error: new (...args: never[]) => Error,
  message: RegExp,
): void {
  target.imageBackend.sync();
  const before = sha256File(target.path);
  let thrown: unknown;
  try {
    CloneSession.create(source, target, { pool, activate: true, datasets });
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(error);
  expect(String((thrown as Error).message)).toMatch(message);
  expect(sha256File(target.path)).toBe(before);
  expect(existsSync(`${target.path}.clone.json`)).toBe(false);
  expect(target.interceptorNames()).toEqual([]);
}
