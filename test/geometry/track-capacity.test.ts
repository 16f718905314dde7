/**
 * Layers: unit (every example of native-layout/track-capacity.md), property (fast-check: the formula agrees
 * with `recordsFit`, and with what `Volume.writeTrackRecords` accepts on a real track).
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { FAMILY_3380, FAMILY_3390, CKD_MODELS, type CkdFamily } from '../../src/geometry/device-types.js';
import { recordCells, recordsFit, recordsPerTrack, trackBalanceBytes, MAX_KEY_LENGTH } from '../../src/geometry/track-capacity.js';
import { parseGeometry } from '../../src/geometry/volume-geometry.js';
import { TrackOverflowError } from '../../src/errors/snaptape-error.js';
import type { Volume } from '../../src/volume/volume.js';
import { fcSeed } from '../harness/fc-seed.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** native-layout/track-capacity.md check table: KL, DL, 3390 cells, 3390 per track, 3380 cells, 3380 per track. */
const CHECK_TABLE: ReadonlyArray<readonly [number, number, number, number, number, number]> = [
  [0, 80, 22, 78, 18, 83],
  [0, 800, 44, 39, 41, 36],
  [0, 3120, 114, 15, 113, 13],
  [0, 4096, 143, 12, 144, 10],
  [0, 6160, 206, 8, 208, 7],
  [0, 18452, 576, 3, 592, 2],
  [0, 23476, 728, 2, 749, 2],
  [0, 27998, 864, 2, 891, 1],
  [0, 32760, 1008, 1, 1040, 1],
  [44, 96, 34, 50, 28, 53],
  [8, 256, 38, 45, 32, 46],
];

describe('track capacity: native-layout/track-capacity.md check table', () => {
  for (const [kl, dl, cells3390, per3390, cells3380, per3380] of CHECK_TABLE) {
    it(`KL ${kl} DL ${dl}: 3390 ${cells3390} cells / ${per3390} per track, 3380 ${cells3380} cells / ${per3380} per track`, () => {
      const shape = { keyLength: kl, dataLength: dl };
      expect(recordCells(FAMILY_3390, shape)).toBe(cells3390);
      expect(recordsPerTrack(FAMILY_3390, shape)).toBe(per3390);
      expect(recordCells(FAMILY_3380, shape)).toBe(cells3380);
      expect(recordsPerTrack(FAMILY_3380, shape)).toBe(per3380);
    });
  }

  it('a maximum-length R1 fills the track exactly (56664 on 3390, 47476 on 3380)', () => {
    expect(recordCells(FAMILY_3390, { keyLength: 0, dataLength: 56664 })).toBe(1729);
    expect(recordsPerTrack(FAMILY_3390, { keyLength: 0, dataLength: 56664 })).toBe(1);
    expect(recordsPerTrack(FAMILY_3390, { keyLength: 0, dataLength: 56665 })).toBe(0);
    expect(recordCells(FAMILY_3380, { keyLength: 0, dataLength: 47476 })).toBe(1499);
    expect(recordsPerTrack(FAMILY_3380, { keyLength: 0, dataLength: 47476 })).toBe(1);
    expect(recordsPerTrack(FAMILY_3380, { keyLength: 0, dataLength: 47477 })).toBe(0);
  });

  it('an EOF record (KL 0, DL 0) costs 20 cells on 3390 and 16 on 3380', () => {
    expect(recordCells(FAMILY_3390, { keyLength: 0, dataLength: 0 })).toBe(20);
    expect(recordCells(FAMILY_3380, { keyLength: 0, dataLength: 0 })).toBe(16);
  });

  it('DSCBs per track (DS4DEVDT) and directory blocks per track (DS4DEVDB) follow the formula', () => {
    expect(FAMILY_3390.dscbsPerTrack).toBe(50);
    expect(FAMILY_3380.dscbsPerTrack).toBe(53);
    expect(FAMILY_3390.directoryBlocksPerTrack).toBe(45);
    expect(FAMILY_3380.directoryBlocksPerTrack).toBe(46);
    for (const family of [FAMILY_3390, FAMILY_3380]) {
      expect(recordsPerTrack(family, { keyLength: 44, dataLength: 96 })).toBe(family.dscbsPerTrack);
      expect(recordsPerTrack(family, { keyLength: 8, dataLength: 256 })).toBe(family.directoryBlocksPerTrack);
    }
  });
});

describe('track balance (DS1TRBAL): native-layout/track-capacity.md', () => {
  it('vector 02: 3 × 800-byte blocks + EOF on a 3390 leave 53618 bytes', () => {
    const records = [...Array(3).fill({ keyLength: 0, dataLength: 800 }), { keyLength: 0, dataLength: 0 }];
    expect(trackBalanceBytes(FAMILY_3390, records)).toBe(53618);
  });

  it('3380: 5 × 6160 + 6080 + EOF leave 7584 bytes', () => {
    const records = [...Array(5).fill({ keyLength: 0, dataLength: 6160 }), { keyLength: 0, dataLength: 6080 }, { keyLength: 0, dataLength: 0 }];
    expect(trackBalanceBytes(FAMILY_3380, records)).toBe(7584);
  });

  it('vector 02 data sets: TEST.SEQ.F4096 (2 × 4096 + EOF) = 48382, TEST.EMPTY.PDS (5 dir blocks + EOF) = 51646', () => {
    expect(
      trackBalanceBytes(FAMILY_3390, [
        { keyLength: 0, dataLength: 4096 },
        { keyLength: 0, dataLength: 4096 },
        { keyLength: 0, dataLength: 0 },
      ]),
    ).toBe(48382);
    const pds = [...Array(5).fill({ keyLength: 8, dataLength: 256 }), { keyLength: 0, dataLength: 0 }];
    expect(trackBalanceBytes(FAMILY_3390, pds)).toBe(51646);
  });
});

describe('device models (native-layout/track-capacity.md, native-layout/ckd-image-header.md)', () => {
  it('names, cylinder counts and slot sizes follow dasdtab.c / dasdinit', () => {
    const byName = Object.fromEntries(CKD_MODELS.map((m) => [m.name, m.cylinders]));
    expect(byName).toMatchObject({
      '3390-1': 1113,
      '3390-2': 2226,
      '3390-3': 3339,
      '3390-9': 10017,
      '3390-27': 32760,
      '3390-54': 65520,
      '3380-J': 885,
      '3380-K': 2655,
    });
    expect(FAMILY_3390.trackSlotBytes).toBe(56832);
    expect(FAMILY_3380.trackSlotBytes).toBe(47616);
    const g = parseGeometry('3390-3', {});
    expect(g.kind === 'ckd' && g.trackCount).toBe(3339 * 15);
    const custom = parseGeometry('3380', { cylinders: 7 });
    expect(custom.kind === 'ckd' && custom.typeName).toBe('3380');
    const fba = parseGeometry('fba', { blocks: 200 });
    expect(fba.kind === 'fba' && fba.blockCount).toBe(200);
  });
});

// ---- property tests ---------------------------------------------------------------------------

const shapeArb = (family: CkdFamily): fc.Arbitrary<{ keyLength: number; dataLength: number }> =>
  fc.record({
    keyLength: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: MAX_KEY_LENGTH })),
    // Bias towards small records so that many fit, but cover the whole range up past R1 max.
    dataLength: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: family.r1MaxBytes + 64 })),
  });

describe('property: records fit exactly when the formula says they do', () => {
  for (const family of [FAMILY_3390, FAMILY_3380]) {
    it(`${family.family}: recordsPerTrack n fit, n + 1 do not`, () => {
      const seed = fcSeed(`capacity-formula-${family.family}`);
      fc.assert(
        fc.property(shapeArb(family), (shape) => {
          const n = recordsPerTrack(family, shape);
          expect(recordsFit(family, Array(n).fill(shape))).toBe(true);
          expect(recordsFit(family, Array(n + 1).fill(shape))).toBe(false);
          // The cell sum is monotone: n records use at most the track's cells, n+1 more than that.
          expect(n * recordCells(family, shape)).toBeLessThanOrEqual(family.capacity.cellsPerTrack);
          expect((n + 1) * recordCells(family, shape)).toBeGreaterThan(family.capacity.cellsPerTrack);
        }),
        { seed, numRuns: 500 },
      );
    });
  }
});

describe('property: a real track takes n records and refuses n + 1 (Volume.writeTrackRecords)', () => {
  let dir: TempDir;
  const volumes: Record<string, Volume> = {};

  beforeAll(() => {
    dir = makeTempDir();
    volumes['3390'] = createVolume(join(dir.path, 'cap3390.ckd'), { type: '3390', cylinders: 1, volser: 'CAP390', vtocTracks: 0 });
    volumes['3380'] = createVolume(join(dir.path, 'cap3380.ckd'), { type: '3380', cylinders: 1, volser: 'CAP380', vtocTracks: 0 });
  });

  afterAll(() => {
    for (const v of Object.values(volumes)) v.close();
    dir.cleanup();
  });

  for (const family of [FAMILY_3390, FAMILY_3380]) {
    it(`${family.family}: writeTrackRecords(n) reads back, writeTrackRecords(n + 1) throws TrackOverflowError`, () => {
      const volume = volumes[family.family] as Volume;
      const seed = fcSeed(`capacity-track-${family.family}`);
      let trackIndex = 0;
      fc.assert(
        fc.property(shapeArb(family), fc.integer({ min: 0, max: 255 }), (shape, fillByte) => {
          // Tracks 1..14 of cylinder 0 in turn (track 0 keeps its label).
          trackIndex = (trackIndex % (family.heads - 1)) + 1;
          const n = recordsPerTrack(family, shape);
          const record = (i: number) => ({ key: Buffer.alloc(shape.keyLength, fillByte), data: Buffer.alloc(shape.dataLength, (fillByte + i) & 0xff) });
          volume.writeTrackRecords(
            trackIndex,
            Array.from({ length: n }, (_, i) => record(i)),
          );
          const back = volume.readTrack(trackIndex).records;
          expect(back.length).toBe(n);
          back.forEach((r, i) => {
            expect(r.record).toBe(i + 1);
            expect(r.key.length).toBe(shape.keyLength);
            expect(r.data.equals(record(i).data)).toBe(true);
          });
          const before = volume.readTrackImage(trackIndex);
          expect(() =>
            volume.writeTrackRecords(
              trackIndex,
              Array.from({ length: n + 1 }, (_, i) => record(i)),
            ),
          ).toThrow(TrackOverflowError);
          // A refused write leaves the track as it was.
          expect(volume.readTrackImage(trackIndex).equals(before)).toBe(true);
        }),
        { seed, numRuns: 60 },
      );
    });
  }
});
