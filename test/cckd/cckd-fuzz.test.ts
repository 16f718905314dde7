/**
 * Layer: seeded fuzzer and named corruptions (issue 11 acceptance). Damaged CCKD headers and
 * tables give typed errors (a SnaptapeError with a stable code, never a crash) and the file stays
 * unchanged: a damaged file is checked on a read-only descriptor before any write.
 * Replay a failure with SNAPTAPE_SEED=<seed printed>.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { Prng } from '../../src/base/prng.js';
import { isSnaptapeError } from '../../src/errors/snaptape-error.js';
import { openImage } from '../../src/image/open-image.js';
import { allocateDataset } from '../../src/vtoc/dataset-allocator.js';
import { parseRecfm } from '../../src/vtoc/dataset-attributes.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';
import { sha256File } from '../harness/dasd.js';
import { MIB, bzip2Bomb, plantCckdTrack, zlibBomb } from '../harness/bombs.js';
import { fcSeed } from '../harness/fc-seed.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** Mutated files tried; each is opened read-only, read whole, and opened for writing. */
const CASES = 400;
let dir: TempDir;
let good: string;
let goodBytes: Buffer;
let metadataEnd: number;
/** The good file with track 0 replaced by a bzip2 or zlib bomb (appended at the end of the file). */
let bombSeeds: Buffer[];

beforeAll(() => {
  dir = makeTempDir();
  good = join(dir.path, 'good.cckd');
  const v = createVolume(good, { type: '3390', cylinders: 2, volser: 'FUZ001', format: 'cckd', vtocTracks: 1 });
  allocateDataset(v, { name: 'FUZZ.DATA', tracks: 6, dsorg: 'PS', recfm: parseRecfm('FB'), recordLength: 80, blockSize: 800 });
  fillVolume(v, { seed: 3, percent: 60 });
  v.close();
  goodBytes = readFileSync(good);
  // The headers, the L1 table and the one L2 table sit before the first track image.
  metadataEnd = Math.min(goodBytes.length, 1024 + 4 + 2048 + 64);
  // Random mutations never build a decompression bomb, so two are seeds: 64 MiB of zeros in a
  // track image whose slot is 56,832 bytes.
  bombSeeds = (
    [
      [2, bzip2Bomb(64 * MIB)],
      [1, zlibBomb(48 * MIB)],
    ] as const
  ).map(([code, body]) => {
    const path = join(dir.path, `bomb-${code}.cckd`);
    writeFileSync(path, goodBytes);
    plantCckdTrack(path, 0, 15, code, body);
    return readFileSync(path);
  });
});
afterAll(() => dir.cleanup());

/** Opens, reads every track, and opens for writing; returns the error code, or 'ok'. */
function exercise(path: string): string {
  try {
    const ro = openImage(path, { readOnly: true });
    try {
      const units = ro.geometry.kind === 'ckd' ? ro.geometry.trackCount : 0;
      for (let t = 0; t < units; t++) ro.readUnit(t, ro.slotBytes);
    } finally {
      ro.close();
    }
    openImage(path, { readOnly: false }).close();
    return 'ok';
  } catch (error) {
    if (!isSnaptapeError(error)) throw error;
    expect(error.message).toMatch(/^Cannot /);
    return error.code;
  }
}

describe('damaged CCKD files', () => {
  it('named corruptions give typed errors and leave the file unchanged', () => {
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      ['truncated inside the compressed header', (b) => b.subarray(0, 700).copy(b), /truncated|shorter/],
      ['bad trksize', (b) => b.writeUInt32LE(47616, 12), /track size 47616 at offset 12/],
      ['zero cylinders', (b) => b.writeUInt32LE(0, 552), /0 cylinders at offset 552/],
      ['wrong L1 entry count', (b) => b.writeUInt32LE(9, 516), /9 L1 entries at offset 516/],
      ['L1 points past the end', (b) => b.writeUInt32LE(0x7fff0000, 1024), /L1 entry 0 .* outside/],
      ['L2 entry out of bounds', (b) => b.writeUInt32LE(0x7fff0000, b.readUInt32LE(1024)), /track 0: L2 entry .* out of bounds/],
      [
        'two tracks share one image',
        (b) => {
          const l2 = b.readUInt32LE(1024);
          b.copy(b, l2 + 8, l2, l2 + 8);
        },
        /overlaps/,
      ],
      ['bad null format', (b) => b.writeUInt8(7, 556), /null track format 7/],
      ['unknown compression', (b) => b.writeUInt8(9, 557), /compression 9/],
    ];
    for (const [name, damage, message] of cases) {
      const path = join(dir.path, `named-${name.replace(/\W+/g, '-')}.cckd`);
      const bytes = Buffer.from(goodBytes);
      damage(bytes);
      writeFileSync(path, name.startsWith('truncated') ? bytes.subarray(0, 700) : bytes);
      const before = sha256File(path);
      let thrown: unknown;
      try {
        openImage(path, { readOnly: false }).close();
      } catch (error) {
        thrown = error;
      }
      expect(isSnaptapeError(thrown), name).toBe(true);
      expect((thrown as Error).message, name).toMatch(message);
      expect((thrown as { code: string }).code, name).toBe('IMAGE_FORMAT');
      expect(sha256File(path), `${name}: file unchanged`).toBe(before);
    }
  });

  it(`${CASES} seeded mutations of the headers and tables: typed errors only, and the file unchanged when refused`, () => {
    const seed = fcSeed('cckd-fuzz');
    const prng = new Prng(seed);
    const codes = new Map<string, number>();
    const path = join(dir.path, 'fuzz.cckd');
    for (let i = 0; i < CASES; i++) {
      // One case in four starts from a bomb, and then may hit the bomb's own bytes too.
      const bomb = prng.below(4) === 0 ? bombSeeds[prng.below(bombSeeds.length)] : undefined;
      const bytes = Buffer.from(bomb ?? goodBytes);
      const flips = 1 + prng.below(4);
      for (let k = 0; k < flips; k++) {
        const at = bomb && prng.below(2) === 0 ? goodBytes.length + prng.below(bomb.length - goodBytes.length) : prng.below(metadataEnd);
        bytes[at] = prng.below(4) === 0 ? 0xff : prng.below(256);
      }
      writeFileSync(path, bytes);
      const before = sha256File(path);
      const code = exercise(path);
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (code !== 'ok') expect(sha256File(path), `case ${i} (seed ${seed}): a refused file is unchanged`).toBe(before);
    }
    console.log(`[cckd-fuzz] outcomes: ${JSON.stringify(Object.fromEntries(codes))}`);
    expect(codes.get('IMAGE_FORMAT') ?? 0).toBeGreaterThan(0);
  });

  it('the good file opens, reads and is unchanged by read-only use', () => {
    const copy = join(dir.path, 'copy.cckd');
    copyFileSync(good, copy);
    const before = sha256File(copy);
    const ro = openImage(copy, { readOnly: true });
    ro.readUnits(0, 30);
    ro.close();
    expect(sha256File(copy)).toBe(before);
  });
});
