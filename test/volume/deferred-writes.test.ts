/**
 * Layer: unit. `Volume.writeFlatDeferred`: on a plain volume (or one whose only interceptor is a
 * protected secondary's guard) the chain runs at once and the pwrite lands later, on the libuv
 * pool; with any interceptor that is not `deferredWriteSafe`, or while deferred writes are held,
 * the whole write runs at once. `withWritesLanded` runs a join only once none is in flight.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/volume/open-volume.js';
import { withWritesLanded } from '../../src/volume/deferred-writes.js';
import { installSecondaryGuard } from '../../src/volume/secondary-guard.js';
import type { Volume } from '../../src/volume/volume.js';
import type { WriteInterceptor } from '../../src/volume/write-interceptor.js';
import { LockedError } from '../../src/errors/snaptape-error.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir | undefined;
let volume: Volume | undefined;
afterEach(() => {
  volume?.close();
  volume = undefined;
  dir?.cleanup();
  dir = undefined;
});

function fbaVolume(): { volume: Volume; path: string } {
  dir = makeTempDir('snaptape-deferred-');
  const path = join(dir.path, 'v.fba');
  volume = createVolume(path, { type: 'fba', blocks: 4096, volser: 'DEFER1' });
  return { volume, path };
}

/** The bytes of the image file at `offset` (an FBA image has no header). */
function fileBytes(path: string, offset: number, length: number): Buffer {
  return readFileSync(path).subarray(offset, offset + length);
}

/** An interceptor that watches the written units (as a copy-before-write would): not safe with a deferred pwrite. */
function watcher(seen: number[]): WriteInterceptor {
  return { name: 'watcher', stage: 'observer', beforeWrite: (e) => void seen.push(e.firstUnit) };
}

describe('Volume.writeFlatDeferred', () => {
  it('on a plain volume runs the chain now and lands the bytes later', async () => {
    const { volume: v, path } = fbaVolume();
    const data = Buffer.alloc(64 * 1024, 0x5a);
    const landed = v.writeFlatDeferred(8192, data);
    expect(v.deferredWritesInFlight).toBe(1);
    await landed;
    expect(v.deferredWritesInFlight).toBe(0);
    expect(fileBytes(path, 8192, data.length).equals(data)).toBe(true);
  });

  it('on a CKD volume keeps V at the larger value until the write has landed, then its own', async () => {
    dir = makeTempDir('snaptape-deferred-ckd-');
    const v = createVolume(join(dir.path, 'v.ckd'), { type: '3390', cylinders: 1, volser: 'DEFER2' });
    volume = v;
    const slot = v.backend.slotBytes;
    v.writeFlat(3 * slot, Buffer.alloc(slot, 0x11));
    expect(v.trackSizes().get(3)).toBe(slot);
    // A slot of zeros but its first 100 bytes: once landed, V is 100; while landing, still the whole slot.
    const data = Buffer.alloc(slot);
    data.fill(0x22, 0, 100);
    const landed = v.writeFlatDeferred(3 * slot, data);
    expect(v.trackSizes().get(3)).toBe(slot);
    await landed;
    expect(v.trackSizes().get(3)).toBe(100);
  });

  it('writes at once while an interceptor that is not deferredWriteSafe is on the chain', async () => {
    const { volume: v, path } = fbaVolume();
    const seen: number[] = [];
    v.addInterceptor(watcher(seen));
    const data = Buffer.alloc(4096, 0x6b);
    const landed = v.writeFlatDeferred(512 * 10, data);
    expect(v.deferredWritesInFlight).toBe(0);
    expect(seen).toEqual([10]);
    expect(fileBytes(path, 512 * 10, data.length).equals(data)).toBe(true);
    await landed;
  });

  it("defers the mirror's writes to a protected secondary, and refuses anyone else's at once", async () => {
    const { volume: v, path } = fbaVolume();
    const guard = installSecondaryGuard(v, 'protected');
    expect(guard).toBeDefined();
    expect(() => v.writeFlatDeferred(0, Buffer.alloc(512, 1))).toThrow(LockedError);
    const data = Buffer.alloc(1024 * 1024, 0x3c);
    const landed = guard?.asMirror(() => v.writeFlatDeferred(512 * 100, data));
    expect(v.deferredWritesInFlight).toBe(1);
    await landed;
    expect(fileBytes(path, 512 * 100, data.length).equals(data)).toBe(true);
  });

  it('withWritesLanded joins only once no write is in flight, and writes meanwhile run at once', async () => {
    const { volume: v, path } = fbaVolume();
    const first = Buffer.alloc(1024 * 1024, 0x01);
    const firstLanded = v.writeFlatDeferred(0, first);
    let inFlightAtJoin = -1;
    const seen: number[] = [];
    const joined = withWritesLanded([v], () => {
      inFlightAtJoin = v.deferredWritesInFlight;
      v.addInterceptor(watcher(seen));
    });
    // Held: this one runs at once, whatever the chain says.
    const second = Buffer.alloc(4096, 0x02);
    const secondLanded = v.writeFlatDeferred(1536 * 1024, second);
    expect(v.deferredWritesInFlight).toBe(1);
    expect(fileBytes(path, 1536 * 1024, second.length).equals(second)).toBe(true);
    await joined;
    expect(inFlightAtJoin).toBe(0);
    await Promise.all([firstLanded, secondLanded]);
    expect(fileBytes(path, 0, first.length).equals(first)).toBe(true);
    // After the join, the watcher is on the chain: writes run at once and it sees them.
    const third = v.writeFlatDeferred(512, Buffer.alloc(512, 3));
    expect(v.deferredWritesInFlight).toBe(0);
    expect(seen).toEqual([1]);
    await third;
  });

  it('lands bytes in several buffers as one contiguous write would: same image bytes, same size table', async () => {
    dir = makeTempDir('snaptape-deferred-scattered-');
    const open = (name: string): Volume => createVolume(join(dir?.path ?? '', name), { type: '3390', cylinders: 1, volser: 'SCATT1' });
    const contiguous = open('one.ckd');
    const scattered = open('many.ckd');
    const gathered = open('gathered.ckd');
    // The last one has an interceptor that cannot defer: the write runs at once, gathered.
    const seen: number[] = [];
    gathered.addInterceptor(watcher(seen));
    const slot = contiguous.backend.slotBytes;
    const start = 2 * slot + 1000;
    // Non-zero bytes, then a zero run across the end of track 3, then a track whose tail is zero.
    const data = Buffer.alloc(3 * slot);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff || 1;
    data.fill(0, slot - 5000, slot + 3000);
    data.fill(0, 2 * slot + 100);
    // Pieces cut at odd places, one empty, the last ones all zeros.
    const cuts = [0, 4095, 4095, slot - 4000, slot - 1001, slot + 2999, 2 * slot + 50, 2 * slot + 5000, data.length];
    const pieces = cuts.slice(1).map((end, i) => data.subarray(cuts[i], end));
    for (const v of [contiguous, scattered, gathered]) v.writeFlat(2 * slot, Buffer.alloc(4 * slot, 0x11));
    await contiguous.writeFlatDeferred(start, data);
    const landing = scattered.writeFlatDeferred(start, pieces);
    expect(scattered.deferredWritesInFlight).toBe(1);
    await landing;
    await gathered.writeFlatDeferred(start, pieces);
    expect(seen).toEqual([2, 2]);
    const tracks = Array.from({ length: 8 }, (_, t) => t);
    const sizesOf = (v: Volume): number[] => tracks.map((t) => v.trackSizes().get(t));
    expect(sizesOf(scattered)).toEqual(sizesOf(contiguous));
    expect(sizesOf(gathered)).toEqual(sizesOf(contiguous));
    // Track 4's tail is zero after the write: V shrank to its last non-zero byte.
    expect(contiguous.trackSizes().get(4)).toBe(1000 + 100);
    const image = (v: Volume): Buffer => {
      const out = Buffer.alloc(8 * slot);
      v.readFlatInto(0, out);
      return out;
    };
    expect(image(scattered).equals(image(contiguous))).toBe(true);
    expect(image(gathered).equals(image(contiguous))).toBe(true);
    for (const v of [contiguous, scattered, gathered]) v.close();
  });
});
