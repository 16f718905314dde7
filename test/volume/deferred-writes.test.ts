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
});
