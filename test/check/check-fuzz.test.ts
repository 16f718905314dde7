/**
 * Layer: seeded fuzzer. Random byte damage to copies of real tapes (vectors 07, 08 segmented, 09
 * zlib) and to the VTOC and track 0 of vector 02: `runCheck` either reports (every problem with a
 * location) or throws a typed SnaptapeError, never anything else, and without --repair the file's
 * bytes are unchanged. Replay with SNAPTAPE_SEED=<seed printed>.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Prng } from '../../src/base/prng.js';
import { runCheck } from '../../src/check/run-check.js';
import { SnaptapeError } from '../../src/errors/snaptape-error.js';
import { fcSeed } from '../harness/fc-seed.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';

const dir = makeTempDir();
afterAll(() => dir.cleanup());

const TAPE_CASES = 300;
const TEAR_CASES = 120;
const IMAGE_CASES = 60;
/** Vector 02: the used bytes of track 0 (IPL, VOL1) and of the first VTOC track (cylinder 0 head 8: 50 DSCBs of 148 bytes). */
const IMAGE_REGIONS: readonly (readonly [number, number])[] = [
  [512, 512 + 900],
  [512 + 8 * 56832, 512 + 8 * 56832 + 5 + 16 + 50 * 148],
];

function damage(data: Buffer, prng: Prng, region: readonly [number, number]): Buffer {
  const out = Buffer.from(data);
  const flips = 1 + prng.below(4);
  for (let i = 0; i < flips; i++) out[region[0] + prng.below(region[1] - region[0])] = prng.below(256);
  // Sometimes the tail is torn too.
  return prng.below(4) === 0 ? out.subarray(0, out.length - 1 - prng.below(Math.min(200, out.length - 1))) : out;
}

function checkOnce(path: string, where: string): void {
  const before = readFileSync(path);
  try {
    const report = runCheck(path);
    for (const p of report.problems) {
      expect(p.location.text.length, `${where}: ${p.kind} has a location`).toBeGreaterThan(0);
      expect(p.message.length).toBeGreaterThan(0);
    }
    expect(report.clean).toBe(report.remaining.length === 0);
  } catch (error) {
    expect(error, `${where}: ${String(error)}`).toBeInstanceOf(SnaptapeError);
  }
  expect(readFileSync(path).equals(before), `${where}: unchanged`).toBe(true);
}

describe('check fuzz', () => {
  it('damaged tapes: a report or a typed error, never a crash, never a write', () => {
    const seed = fcSeed('check-fuzz-tapes');
    const prng = new Prng(seed);
    const sources = ['07_tape_sl_1file.aws', '08_tape_nl_bigblocks_chunk4096.aws', '09_tape_sl_1file.zlib.het'].map((n) => ({
      n,
      data: readFileSync(vectorPath(n, dir.path)),
    }));
    for (let i = 0; i < TAPE_CASES; i++) {
      const source = sources[i % sources.length] as { n: string; data: Buffer };
      const path = join(dir.path, `fuzz-${i}${source.n.endsWith('.het') ? '.het' : '.aws'}`);
      writeFileSync(path, damage(source.data, prng, [0, source.data.length]));
      checkOnce(path, `case ${i} of seed ${seed} (${source.n})`);
    }
  });

  it('damaged VTOCs: a report or a typed error, never a crash, never a write', () => {
    const seed = fcSeed('check-fuzz-vtoc');
    const prng = new Prng(seed);
    const original = vectorPath('02_ckd3390_dasdload_5cyl.ckd', dir.path);
    const data = readFileSync(original);
    const path = join(dir.path, 'fuzz-vtoc.ckd');
    for (let i = 0; i < IMAGE_CASES; i++) {
      copyFileSync(original, path);
      const damaged = Buffer.from(data);
      const region = IMAGE_REGIONS[i % IMAGE_REGIONS.length] as readonly [number, number];
      // Whole-cylinder size must stay, so no tearing here: flips only.
      for (let f = 0; f < 1 + prng.below(6); f++) damaged[region[0] + prng.below(region[1] - region[0])] = prng.below(256);
      writeFileSync(path, damaged);
      checkOnce(path, `case ${i} of seed ${seed}`);
    }
  });

  it('--repair of a tape torn anywhere keeps every whole block before the tear, and leaves no torn block', () => {
    const seed = fcSeed('check-fuzz-tears');
    const prng = new Prng(seed);
    for (let i = 0; i < TEAR_CASES; i++) {
      const name = ['07_tape_sl_1file.aws', '08_tape_nl_bigblocks_chunk4096.aws', '09_tape_sl_1file.bz2.het'][i % 3] as string;
      const original = readFileSync(vectorPath(name, dir.path));
      // Ends of whole blocks and tapemarks: after a chunk with end-of-record (0x20) or a tapemark (0x40).
      const boundaries: number[] = [0];
      for (let at = 0; at + 6 <= original.length; at += 6 + original.readUInt16LE(at)) {
        if (((original[at + 4] as number) & 0x60) !== 0) boundaries.push(at + 6 + original.readUInt16LE(at));
      }
      const cut = 1 + prng.below(original.length - 1);
      const kept = Math.max(...boundaries.filter((b) => b <= cut));
      const path = join(dir.path, `tear-${i}-${name}`);
      writeFileSync(path, original.subarray(0, cut));
      const where = `case ${i} of seed ${seed}: ${name} cut at ${cut}`;
      let report;
      try {
        report = runCheck(path, { repair: true });
      } catch (error) {
        // A tear inside the very first block leaves nothing that looks like a tape.
        expect(kept, where).toBe(0);
        expect(error, where).toBeInstanceOf(SnaptapeError);
        continue;
      }
      const repaired = readFileSync(path);
      expect(
        report.remaining.map((p) => p.kind),
        where,
      ).not.toContain('torn-block');
      expect(repaired.subarray(0, kept).equals(original.subarray(0, kept)), where).toBe(true);
      expect([kept, kept + 6], where).toContain(repaired.length);
      if (repaired.length === kept + 6) expect(repaired[kept + 4], `${where}: the appended entry is a tapemark`).toBe(0x40);
    }
  });
});
