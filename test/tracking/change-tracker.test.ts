/**
 * The change tracker on real files: a unit's era is in `<image>.tracking` before the host write
 * returns (read from the file while the volume is still open, no sync), `changedUnitsSince` names
 * exactly the units written after a checkpoint (also read back from the side files of a closed
 * volume, and an unknown checkpoint is refused with the ones there are).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { SessionError } from '../../src/errors/snaptape-error.js';
import { changedUnitsSince, ChangeTracker, trackerOf } from '../../src/techniques/tracking/change-tracker.js';
import { readTrackingState, trackingStatePath } from '../../src/techniques/tracking/tracking-file.js';
import { createVolume } from '../../src/volume/open-volume.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let image: string;

beforeEach(() => {
  dir = makeTempDir();
  image = join(dir.path, 't.ckd');
  createVolume(image, { type: '3390', cylinders: 2, volser: 'TRK001' }).close();
});
afterEach(() => dir.cleanup());

const eraOnDisk = (unit: number): number => readFileSync(`${image}.tracking`).readInt32LE(unit * 4);
const changed = (map: Uint8Array): number[] => [...map.keys()].filter((u) => map[u] === 1);

describe('change tracker', () => {
  it('has a unit marked on disk before the write returns, and tells the units changed since a checkpoint', () => {
    const volume = openVolume(image);
    const tracker = ChangeTracker.enable(volume);
    expect(trackerOf(volume)).toBe(tracker);
    tracker.checkpoint('c1');
    volume.writeTrackRecords(20, [{ key: Buffer.alloc(0), data: Buffer.alloc(100, 1) }]);
    expect(eraOnDisk(20)).toBe(2);
    expect(eraOnDisk(21)).toBe(0);
    tracker.checkpoint('c2');
    volume.writeTrackRecords(25, [{ key: Buffer.alloc(0), data: Buffer.alloc(100, 2) }]);
    expect(eraOnDisk(25)).toBe(3);
    expect(changed(changedUnitsSince(volume, 'c1'))).toEqual([20, 25]);
    expect(changed(changedUnitsSince(volume, 'c2'))).toEqual([25]);
    volume.close();
    // From the side files of the closed volume, through a read-only open.
    const readOnly = openVolume(image, { readOnly: true });
    try {
      expect(trackerOf(readOnly)).toBeUndefined();
      expect(changed(changedUnitsSince(readOnly, 'c1'))).toEqual([20, 25]);
      expect(() => changedUnitsSince(readOnly, 'nope')).toThrow(/no such checkpoint \(it has: c1, c2\)/);
    } finally {
      readOnly.close();
    }
  });

  it("refuses a state file whose unit count is not the volume's before it sizes anything by it (read-only open)", () => {
    const volume = openVolume(image);
    ChangeTracker.enable(volume).checkpoint('c1');
    volume.close();
    const state = JSON.parse(readFileSync(trackingStatePath(image), 'utf8')) as Record<string, unknown>;
    const readOnly = openVolume(image, { readOnly: true });
    try {
      // A count that would allocate 8 GiB, then a negative one, then one merely off by some units.
      for (const unitCount of [2 ** 31, -1, readOnly.unitCount + 15]) {
        writeFileSync(trackingStatePath(image), JSON.stringify({ ...state, unitCount }));
        let error: unknown;
        try {
          changedUnitsSince(readOnly, 'c1');
        } catch (caught) {
          error = caught;
        }
        expect(error, `unitCount ${unitCount}`).toBeInstanceOf(SessionError);
        expect((error as Error).message).toContain(`${unitCount} units, the volume ${readOnly.unitCount}`);
        expect((error as Error).message).toContain(image);
      }
    } finally {
      readOnly.close();
    }
  });

  it("keeps a completed backup's base when a state is saved while that one is still being written", async () => {
    const volume = openVolume(image);
    try {
      const tracker = ChangeTracker.enable(volume);
      const tape = join(dir.path, 'full.aws');
      tracker.checkpoint('full.aws', { path: tape, volser: 'TRK001', complete: false });
      // Its fsyncs run on libuv's pool: a checkpoint taken meanwhile is saved first, on this thread.
      const completing = tracker.completeBackupOf(tape, 'ab'.repeat(32));
      tracker.checkpoint('next.aws');
      await completing;
      const state = readTrackingState(image);
      expect(state.checkpoints.map((c) => c.name)).toEqual(['full.aws', 'next.aws']);
      expect(state.checkpoints[0]?.tape).toMatchObject({ complete: true, sha256: 'ab'.repeat(32) });
      expect(existsSync(`${trackingStatePath(image)}.async.tmp`), 'the overtaken state left no temp file').toBe(false);
    } finally {
      volume.close();
    }
  });
});
