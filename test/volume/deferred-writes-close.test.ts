/**
 * Layer: unit. Review of `Volume.close` with deferred writes in flight (the exit that cannot wait:
 * VolumeServer.releaseVolumesNow on a second signal closes every served volume at once). A pwrite
 * still queued on the libuv pool holds only the descriptor's number: once the image is closed, the
 * next file opened gets that number, and the write lands in it. Closing must not release the
 * descriptor under a write that has not landed.
 */
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/volume/open-volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { occupyLibuvPool } from '../harness/busy-libuv-pool.js';
import { writesOnPool } from '../harness/slot-file-of.js';

let dir: TempDir | undefined;
afterEach(() => {
  dir?.cleanup();
  dir = undefined;
});

describe('Volume.close with a deferred write in flight', () => {
  it('does not let the write land in the next file opened', async () => {
    dir = makeTempDir('snaptape-deferred-close-');
    const volume = createVolume(join(dir.path, 'v.fba'), { type: 'fba', blocks: 4096, volser: 'DCLOSE' });
    writesOnPool(volume);
    const other = join(dir.path, 'other.bin');
    writeFileSync(other, 'keep');
    const busy = occupyLibuvPool();
    const landed = volume.writeFlatDeferred(8192, Buffer.alloc(4096, 0xee)).then(
      () => 'landed',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    expect(volume.deferredWritesInFlight).toBe(1);
    // The exit that cannot wait: the volume closes with the write still queued.
    volume.close();
    const fd = openSync(other, 'r+');
    try {
      await busy;
      await landed;
    } finally {
      closeSync(fd);
    }
    // The other file is exactly what it was: the image's write did not land in it.
    const after = readFileSync(other);
    expect({ bytes: after.length, imageBytes: after.includes(0xee) }).toEqual({ bytes: 4, imageBytes: false });
  }, 30_000);
});
