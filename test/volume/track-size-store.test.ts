/**
 * The size table V is kept beside the image (issue 4, item 1): it is reused on the next open when
 * the image is unchanged, and rebuilt by a scan when anything else wrote the image.
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVolume, openVolume } from '../../src/api/volume-api.js';
import { encodeTrack } from '../../src/ckd/track-codec.js';
import { TrackSizeTable } from '../../src/volume/track-size-table.js';
import { loadTrackSizes, sizeStorePath } from '../../src/volume/track-size-store.js';
import { runSnaptapeMeasured } from '../harness/peak-rss.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => dir.cleanup());

function scanned(path: string): Uint32Array {
  const volume = openVolume(path, { readOnly: true });
  try {
    return TrackSizeTable.scan(volume.backend, volume.ckd).snapshot();
  } finally {
    volume.close();
  }
}

describe('track size store', () => {
  it('is written on close and equals a full scan on the next open', () => {
    const path = join(dir.path, 'v.ckd');
    const volume = createVolume(path, { type: '3390', cylinders: 3, volser: 'SIZE01' });
    volume.writeTrackRecords(20, [{ key: Buffer.alloc(0), data: Buffer.alloc(3000, 7) }]);
    volume.close();
    expect(existsSync(sizeStorePath(path))).toBe(true);
    const stored = loadTrackSizes(path, 45, 56832);
    expect(stored).toBeDefined();
    expect(Array.from(stored!)).toEqual(Array.from(scanned(path)));
    expect(stored![20]).toBe(29 + 8 + 3000);
    const again = openVolume(path, { readOnly: true });
    try {
      again.trackSizes();
      expect(again.sizeTableOrigin).toBe('stored');
    } finally {
      again.close();
    }
    rmSync(sizeStorePath(path));
    const without = openVolume(path, { readOnly: true });
    try {
      without.trackSizes();
      expect(without.sizeTableOrigin).toMatch(/^rebuilt by a scan: no size store/);
    } finally {
      without.close();
    }
  });

  it('is ignored when another tool wrote the image, and the scan sees the new track', () => {
    const path = join(dir.path, 'v.ckd');
    createVolume(path, { type: '3390', cylinders: 3, volser: 'SIZE01' }).close();
    // Another writer (as Hercules would) rewrites track 5 behind snaptape's back.
    const image = encodeTrack({
      cchh: { cylinder: 0, head: 5 },
      r0Data: Buffer.alloc(8),
      records: [{ cylinder: 0, head: 5, record: 1, key: Buffer.alloc(0), data: Buffer.alloc(500, 1) }],
    });
    const fd = openSync(path, 'r+');
    writeSync(fd, image, 0, image.length, 512 + 5 * 56832);
    closeSync(fd);
    expect(loadTrackSizes(path, 45, 56832)).toBeUndefined();
    const volume = openVolume(path, { readOnly: true });
    try {
      expect(volume.trackSizes().get(5)).toBe(image.length);
      // The fallback says why it happened.
      expect(volume.sizeTableOrigin).toMatch(/^rebuilt by a scan: the image changed after .*\.sizes was written/);
    } finally {
      volume.close();
    }
  });

  it("after an unclean stop, a rescan covers raw bytes written past a track's end marker", () => {
    const path = join(dir.path, 'v.ckd');
    const volume = createVolume(path, { type: '3390', cylinders: 3, volser: 'SIZE01' });
    // A raw (NBD) write past the end marker of an empty track: V covers it while the volume is open…
    volume.writeFlat(7 * 56832 + 1000, Buffer.alloc(300, 0xee));
    expect(volume.trackSizes().get(7)).toBe(1300);
    volume.close();
    // …and after a crash (the stored table is stale), the scan finds it again.
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from([0]), 0, 1, 512 + 44 * 56832 + 100); // any write moves the stamp
    closeSync(fd);
    expect(loadTrackSizes(path, 45, 56832)).toBeUndefined();
    expect(scanned(path)[7]).toBe(1300);
  });
});

describe('a size store that lies (hostile input)', () => {
  it('an entry larger than the track slot is not trusted: the table is rebuilt by a scan, and a backup runs', () => {
    const path = join(dir.path, 'v.ckd');
    const volume = createVolume(path, { type: '3390', cylinders: 3, volser: 'SIZE01' });
    volume.writeTrackRecords(20, [{ key: Buffer.alloc(0), data: Buffer.alloc(3000, 7) }]);
    volume.close();
    const truth = scanned(path);
    // The stamp is the image's, so a store edited in place still matches it.
    const store = sizeStorePath(path);
    const honest = readFileSync(store);
    for (const [track, lie] of [
      [20, 0xffffffff],
      [21, 56833],
    ] as const) {
      const lying = Buffer.from(honest);
      lying.writeUInt32LE(lie, 32 + track * 4);
      writeFileSync(store, lying);
      expect(loadTrackSizes(path, 45, 56832), `track ${track}: ${lie}`).toBeUndefined();
      const opened = openVolume(path, { readOnly: true });
      try {
        expect(Array.from(opened.trackSizes().snapshot())).toEqual(Array.from(truth));
        expect(opened.sizeTableOrigin).toMatch(new RegExp(`^rebuilt by a scan: .*track ${track} .*${lie}.*56832-byte slot`));
      } finally {
        opened.close();
      }
    }
    // The CLI as a user runs it: the backup of the volume, not an internal error.
    const r = runSnaptape(['backup', path, '--to', join(dir.path, 'v.aws')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('a size store of the wrong length', () => {
  it('is refused by its size, not read: a 1 GiB sparse store costs no memory', () => {
    const path = join(dir.path, 'v.ckd');
    createVolume(path, { type: '3390', cylinders: 3, volser: 'SIZE01' }).close();
    // A sparse file: no disk blocks, but 1 GiB to read.
    truncateSync(sizeStorePath(path), 1024 ** 3);
    expect(loadTrackSizes(path, 45, 56832)).toBeUndefined();
    const r = runSnaptapeMeasured(['backup', path, '--to', join(dir.path, 'v.aws')], dir.path);
    expect(r.status, r.stderr).toBe(0);
    // The CLI itself takes about 130 MiB; reading the store took 1.1 GiB more.
    expect(r.peakRssBytes, `peak RSS ${(r.peakRssBytes / 1024 ** 2).toFixed(0)} MiB`).toBeLessThan(512 * 1024 ** 2);
  });
});
