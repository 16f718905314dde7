/**
 * Layer: unit. Review of `Volume.close` with deferred writes in flight (the exit that cannot wait:
 * VolumeServer.releaseVolumesNow on a second signal closes every served volume at once). A pwrite
 * still queued on the libuv pool holds only the descriptor's number: once the image is closed, the
 * next file opened gets that number, and the write lands in it. Closing must not release the
 * descriptor under a write that has not landed.
 */
import { closeSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/volume/open-volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { occupyLibuvPool } from '../harness/busy-libuv-pool.js';

let dir: TempDir | undefined;
afterEach(() => {
  dir?.cleanup();
  dir = undefined;
});

describe('Volume.close with a deferred write in flight', () => {
  it('does not let the write land in the next file opened', async () => {
    dir = makeTempDir('snaptape-deferred-close-');
    const volume = createVolume(join(dir.path, 'v.fba'), { type: 'fba', blocks: 4096, volser: 'DCLOSE' });
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

  it('closes later without an unhandled rejection when its image was renamed meanwhile', async () => {
    dir = makeTempDir('snaptape-deferred-close-renamed-');
    const path = join(dir.path, 'v.ckd');
    const volume = createVolume(path, { type: '3390', cylinders: 1, volser: 'DCLOS2' });
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown): void => void rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const busy = occupyLibuvPool();
      const landed = volume.writeFlatDeferred(0, Buffer.alloc(4096, 0xdd));
      // The exit that cannot wait, after someone moved the image away: its size table cannot be stamped.
      renameSync(path, join(dir.path, 'moved.ckd'));
      volume.close();
      await busy;
      await landed;
      await volume.writesLanded();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(rejections.map(String)).toEqual([]);
      expect(readFileSync(join(dir.path, 'moved.ckd')).includes(0xdd)).toBe(true);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  }, 30_000);
});
