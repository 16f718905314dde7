/**
 * Layers: unit + property (shadow model) + scenario. The backup set (issue 4, "Elements and sizes"):
 * - data set name patterns (`PROD.**`, `*.DATA`, `PROD.%AYROLL.*`, `**`) select the right names, as
 *   regular expressions and on a real volume's VTOC;
 * - the inverted index maps every track (block) of every element to its slot, in the element's
 *   order, and no other unit — checked against the extents `snaptape ls` reports;
 * - the fixed-format size S = (BL+K+C)·n·(TR−1) + (BL+K+C)·R (+ the 29-byte track frame) equals the
 *   sum of the size table V over the element's tracks;
 * - FBA: named block ranges backed up under concurrent writes restore exactly those ranges as of the
 *   start instant; a whole FBA volume restores into a new image byte-identical to the reference.
 *
 * Randomised (FBA content and host writes): the seed is printed; replay with SNAPTAPE_SEED=<seed>.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/api/backup-api.js';
import { createVolume, describeVolume, openVolume } from '../../src/api/volume-api.js';
import { Prng } from '../../src/base/prng.js';
import { UsageError } from '../../src/errors/snaptape-error.js';
import { recordsPerTrack } from '../../src/geometry/track-capacity.js';
import { FBA_BLOCKS_PER_TAPE_BLOCK, fixedFormatElementBytes, selectBackupSet, type BackupSet } from '../../src/techniques/tape-backup/backup-elements.js';
import { datasetPatternRegExp, matchesAnyPattern } from '../../src/vtoc/dataset-pattern.js';
import type { Volume } from '../../src/volume/volume.js';
import { allocateDataset, deleteDataset } from '../../src/vtoc/dataset-allocator.js';
import { parseRecfm } from '../../src/vtoc/dataset-attributes.js';
import { fillVolume } from '../../src/vtoc/volume-fill.js';
import { runTool } from '../harness/external-tools.js';
import { fcSeed } from '../harness/fc-seed.js';
import { runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

const ok = runSnaptapeOk;

describe('data set name patterns', () => {
  const names = [
    'PROD',
    'PROD.DATA',
    'PROD.PAYROLL.DATA',
    'PROD.PAYROLL.TEXT',
    'PROD.XAYROLL.INDEX',
    'PROD.PAYROLL.A.B',
    'PROD.AYROLL.DATA',
    'PROD.PAYROLLX.DATA',
    'PRODX.DATA',
    'XPROD.DATA',
    'TEST.DATA',
    'TEST.A.DATA',
    'SYS1.PROD.DATA',
    'A.DATAX',
    'DATA',
    'A$#@-.B',
  ];
  const select = (pattern: string): string[] => names.filter((n) => datasetPatternRegExp(pattern).test(n));

  it('PROD.** is PROD and everything under it, and nothing that only starts with PROD', () => {
    expect(select('PROD.**')).toEqual([
      'PROD',
      'PROD.DATA',
      'PROD.PAYROLL.DATA',
      'PROD.PAYROLL.TEXT',
      'PROD.XAYROLL.INDEX',
      'PROD.PAYROLL.A.B',
      'PROD.AYROLL.DATA',
      'PROD.PAYROLLX.DATA',
    ]);
  });

  it('*.DATA is one qualifier, then DATA', () => {
    expect(select('*.DATA')).toEqual(['PROD.DATA', 'PRODX.DATA', 'XPROD.DATA', 'TEST.DATA']);
  });

  it('PROD.%AYROLL.* has exactly one character for % and exactly one qualifier for *', () => {
    expect(select('PROD.%AYROLL.*')).toEqual(['PROD.PAYROLL.DATA', 'PROD.PAYROLL.TEXT', 'PROD.XAYROLL.INDEX']);
  });

  it('** is every name; A.**.B is A.B with any qualifiers between', () => {
    expect(select('**')).toEqual(names);
    const middle = datasetPatternRegExp('PROD.**.DATA');
    expect(['PROD.DATA', 'PROD.PAYROLL.DATA', 'PROD.X.Y.DATA'].every((n) => middle.test(n))).toBe(true);
    expect(['PROD.DATAX', 'PROD.PAYROLL.TEXT', 'PRODDATA'].some((n) => middle.test(n))).toBe(false);
  });

  it('is case-blind, treats $ # @ - literally, and refuses other characters with a usage error', () => {
    expect(datasetPatternRegExp('prod.**').test('PROD.DATA')).toBe(true);
    expect(select('A$#@-.*')).toEqual(['A$#@-.B']);
    expect(() => datasetPatternRegExp('PROD.(X)')).toThrow(UsageError);
    expect(() => datasetPatternRegExp('A'.repeat(45))).toThrow(/Cannot use data set pattern/);
    expect(matchesAnyPattern('TEST.DATA', ['PROD.**', '*.DATA'].map(datasetPatternRegExp))).toBe(true);
  });
});

/** Tracks of each data set as `snaptape ls` (describeVolume) lists its extents: an independent walk of the DSCBs. */
function tracksByListing(volume: Volume): Map<string, number[]> {
  const heads = volume.ckd.heads;
  const map = new Map<string, number[]>();
  for (const d of describeVolume(volume).datasets) {
    const tracks: number[] = [];
    for (const e of d.extents) {
      const first = e.begin.cylinder * heads + e.begin.head;
      const last = e.end.cylinder * heads + e.end.head;
      for (let t = first; t <= last; t++) tracks.push(t);
    }
    map.set(d.name, tracks);
  }
  return map;
}

/** The inverted index against the expected track list of each element; every other unit maps to -1. */
function expectIndex(set: BackupSet, expected: ReadonlyMap<string, readonly number[]>, sizeOf: (t: number) => number, unitCount: number): void {
  const covered = new Set<number>();
  set.elements.forEach((element, e) => {
    const tracks = expected.get(element.name);
    expect(tracks, `tracks of ${element.name}`).toBeDefined();
    expect(element.slotCount).toBe(tracks?.length);
    tracks?.forEach((t, j) => {
      const slot = element.firstSlot + j;
      expect(set.slots.unitToSlot[t], `track ${t} of ${element.name}`).toBe(slot);
      expect(set.slots.firstUnit[slot]).toBe(t);
      expect(set.slots.unitSpan[slot]).toBe(1);
      expect(set.slots.element[slot]).toBe(e);
      expect(set.slots.lengths[slot]).toBe(sizeOf(t));
      covered.add(t);
    });
  });
  expect(set.slots.firstUnit.length).toBe(covered.size);
  for (let u = 0; u < unitCount; u++) if (!covered.has(u)) expect(set.slots.unitToSlot[u], `unit ${u} belongs to no element`).toBe(-1);
}

describe('the backup set of a CKD volume', () => {
  let volume: Volume;
  const fb = { dsorg: 'PS' as const, recfm: parseRecfm('FB'), recordLength: 80, blockSize: 800 };
  const ALL = ['PROD.PAYROLL.DATA', 'PROD.PAYROLL.TEXT', 'PROD.XAYROLL.INDEX', 'PROD.DATA', 'PRODX.DATA', 'TEST.DATA', 'TEST.A.DATA', 'PROD.MULTI.DATA'];

  beforeAll(() => {
    volume = createVolume(at('sets.ckd'), { type: '3390', cylinders: 10, volser: 'SET001' });
    allocateDataset(volume, { name: 'PROD.PAYROLL.DATA', tracks: 3, ...fb });
    allocateDataset(volume, { name: 'GAP.ONE', tracks: 2, ...fb });
    allocateDataset(volume, { name: 'PROD.PAYROLL.TEXT', tracks: 1, ...fb });
    allocateDataset(volume, { name: 'GAP.TWO', tracks: 2, ...fb });
    allocateDataset(volume, { name: 'PROD.XAYROLL.INDEX', tracks: 2, ...fb });
    allocateDataset(volume, { name: 'PROD.DATA', cylinders: 1, ...fb });
    allocateDataset(volume, { name: 'PRODX.DATA', tracks: 1, ...fb });
    allocateDataset(volume, { name: 'TEST.DATA', tracks: 2, ...fb });
    allocateDataset(volume, { name: 'TEST.A.DATA', tracks: 1, ...fb });
    // Fill every free track, open two 2-track holes, and allocate a data set that must spread over them.
    fillVolume(volume, { seed: 7, percent: 100 });
    deleteDataset(volume, 'GAP.ONE');
    deleteDataset(volume, 'GAP.TWO');
    allocateDataset(volume, { name: 'PROD.MULTI.DATA', tracks: 4, ...fb });
  });
  afterAll(() => volume.close());

  it('has a multi-extent data set (or the index test would not cover extents)', () => {
    const multi = describeVolume(volume).datasets.find((d) => d.name === 'PROD.MULTI.DATA');
    expect(multi?.extents.length).toBeGreaterThanOrEqual(2);
  });

  const cases: Array<[string[], string[]]> = [
    [['PROD.**'], ['PROD.PAYROLL.DATA', 'PROD.PAYROLL.TEXT', 'PROD.XAYROLL.INDEX', 'PROD.DATA', 'PROD.MULTI.DATA']],
    [['*.DATA'], ['PROD.DATA', 'PRODX.DATA', 'TEST.DATA']],
    [['PROD.%AYROLL.*'], ['PROD.PAYROLL.DATA', 'PROD.PAYROLL.TEXT', 'PROD.XAYROLL.INDEX']],
    [
      ['PROD.%AYROLL.*', '*.DATA'],
      ['PROD.PAYROLL.DATA', 'PROD.PAYROLL.TEXT', 'PROD.XAYROLL.INDEX', 'PROD.DATA', 'PRODX.DATA', 'TEST.DATA'],
    ],
  ];
  for (const [patterns, expected] of cases) {
    it(`${patterns.join(' ')} selects ${expected.length} data sets, each once, with an exact inverted index`, () => {
      const set = selectBackupSet(volume, { datasets: patterns });
      expect(set.elements.map((e) => e.name).sort()).toEqual([...expected].sort());
      expect(set.elements.every((e) => e.kind === 'dataset')).toBe(true);
      const sizes = volume.trackSizes();
      expectIndex(set, tracksByListing(volume), (t) => sizes.get(t), volume.ckd.trackCount);
    });
  }

  it('** selects every data set (fill data sets included); no pattern is the whole volume, track for track', () => {
    const all = selectBackupSet(volume, { datasets: ['**'] });
    const listed = tracksByListing(volume);
    expect(all.elements.map((e) => e.name).sort()).toEqual([...listed.keys()].sort());
    expect(ALL.every((n) => listed.has(n))).toBe(true);
    const sizes = volume.trackSizes();
    expectIndex(all, listed, (t) => sizes.get(t), volume.ckd.trackCount);
    const whole = selectBackupSet(volume, {});
    const tracks = Array.from({ length: volume.ckd.trackCount }, (_, t) => t);
    expectIndex(whole, new Map([['FULLVOLUME.SET001', tracks]]), (t) => sizes.get(t), volume.ckd.trackCount);
  });

  it('a real backup of PROD.%AYROLL.* and *.DATA puts those elements on tape with the bytes of the size table', async () => {
    const tape = at('sets.aws');
    const run = await runBackup(volume, { tapePath: tape, datasets: ['PROD.%AYROLL.*', '*.DATA'], workers: 1 });
    const listed = tracksByListing(volume);
    const sizes = volume.trackSizes();
    expect(run.summary.elements.map((e) => e.name).sort()).toEqual([
      'PROD.DATA',
      'PROD.PAYROLL.DATA',
      'PROD.PAYROLL.TEXT',
      'PROD.XAYROLL.INDEX',
      'PRODX.DATA',
      'TEST.DATA',
    ]);
    for (const e of run.summary.elements) {
      const tracks = listed.get(e.name) ?? [];
      expect(e.blocks).toBe(tracks.length);
      expect(e.bytes, e.name).toBe(tracks.reduce((n, t) => n + sizes.get(t), 0));
    }
    const hetmap = runTool('hetmap', [tape]);
    expect(hetmap.status).toBe(0);
    const dsids = [...hetmap.stdout.matchAll(/Label\s+: 'HDR1'\s+Dataset ID\s+: '([^']*)'/g)].map((m) => (m[1] ?? '').trimEnd());
    expect(dsids).toEqual(run.summary.elements.map((e) => e.name.slice(-17)));
  });
});

describe('fixed-format element size S against the size table V', () => {
  let volume: Volume;
  beforeAll(() => {
    volume = createVolume(at('sizes.ckd'), { type: '3390', cylinders: 5, volser: 'SIZ001' });
  });
  afterAll(() => volume.close());

  const sumV = (tracks: readonly number[]): number => tracks.reduce((n, t) => n + volume.trackSizes().get(t), 0);

  it('equals ΣV for keyed fixed blocks in fixed track format (n per full track, R on the last)', () => {
    const blockBytes = 4000;
    const keyBytes = 8;
    const n = recordsPerTrack(volume.ckd.family, { keyLength: keyBytes, dataLength: blockBytes });
    expect(n).toBeGreaterThan(3);
    const entry = allocateDataset(volume, {
      name: 'FIX.KEYED',
      tracks: 5,
      dsorg: 'DA',
      recfm: parseRecfm('F'),
      recordLength: blockBytes,
      blockSize: blockBytes,
    });
    const tracks = tracksByListing(volume).get('FIX.KEYED') ?? [];
    expect(tracks).toHaveLength(5);
    const lastR = 3;
    tracks.forEach((t, i) => {
      const count = i === tracks.length - 1 ? lastR : n;
      volume.writeTrackRecords(
        t,
        Array.from({ length: count }, (_, r) => ({ key: Buffer.alloc(keyBytes, r + 1), data: Buffer.alloc(blockBytes, (t + r) & 0xff) })),
      );
    });
    expect(entry.name).toBe('FIX.KEYED');
    const s = fixedFormatElementBytes({ blockBytes, keyBytes, blocksPerTrack: n, tracks: tracks.length, blocksOnLastTrack: lastR, endOfFileRecord: false });
    expect(s).toBe(sumV(tracks));
    // And the backup set uses exactly those bytes for the element.
    const set = selectBackupSet(volume, { datasets: ['FIX.KEYED'] });
    expect(set.slots.lengths.reduce((a, b) => a + b, 0)).toBe(s);
  });

  it('equals ΣV for a fill data set (U 27998, two blocks per track, EOF alone on the last track)', () => {
    // Was a bug (fixed): src/techniques/tape-backup/backup-elements.ts:144 fixedFormatElementBytes counts HA+R0+EOT (29) per track and
    // (BL+K+C) per data block, but not the EOF record (an 8-byte count, K=D=0) that every sequential data set has on
    // its last used track. No value of blocksOnLastTrack can express it (a block costs 28006 bytes, the EOF 8), so S
    // is 8 bytes short of ΣV for every data set written by fill or put. Measured here: ΣV − S = 8.
    const fillVolumeResult = fillVolume(volume, { seed: 3, percent: 50 });
    const name = fillVolumeResult.datasets[0] as string;
    const tracks = tracksByListing(volume).get(name) ?? [];
    expect(tracks.length).toBeGreaterThan(2);
    const s = fixedFormatElementBytes({
      blockBytes: 27998,
      keyBytes: 0,
      blocksPerTrack: 2,
      tracks: tracks.length,
      blocksOnLastTrack: 0,
      endOfFileRecord: true,
    });
    console.log(`[backup-elements] ${name}: ${tracks.length} tracks, ΣV=${sumV(tracks)}, S=${s}, ΣV−S=${sumV(tracks) - s}`);
    expect(s).toBe(sumV(tracks));
  });
});

describe('FBA volumes', () => {
  const BLOCKS = 4096;
  /** Writes made right after the start instant (copied out of order); few, so that the workers still copy most slots. */
  const WRITES_AT_START = 8;
  const RANGES = [
    { firstBlock: 0, blockCount: 1000 },
    { firstBlock: 2000, blockCount: 500 },
  ];
  let seed: number;
  const image = (): string => at('f.fba');
  const inRanges = (b: number): boolean => RANGES.some((r) => b >= r.firstBlock && b < r.firstBlock + r.blockCount);
  const block = (buffer: Buffer, b: number): Buffer => buffer.subarray(b * 512, (b + 1) * 512);

  beforeAll(() => {
    seed = fcSeed('backup-elements FBA');
    ok(['init', image(), '--type', 'fba', '--blocks', String(BLOCKS), '--volser', 'FBA001']);
    const volume = openVolume(image());
    try {
      const data = Buffer.alloc((BLOCKS - 2) * 512);
      new Prng(seed).fill(data);
      volume.writeBlocks(2, data);
    } finally {
      volume.close();
    }
  });

  /** A backup through the API under a load of FBA writes, plus writes into the ranges right after the start instant. */
  async function backupUnderLoad(tape: string, reference: string, blockRanges?: typeof RANGES) {
    const volume = openVolume(image());
    try {
      const prng = new Prng(seed ^ 0x5a5a);
      const done = runBackup(volume, {
        tapePath: tape,
        blockRanges,
        workers: 2,
        throttleMbps: 1,
        load: { kind: 'random', ratePerSecond: 2000 },
        loadSeed: seed,
        onStartInstant: () => copyFileSync(image(), reference),
      });
      const targets = blockRanges ?? [{ firstBlock: 2, blockCount: BLOCKS - 2 }];
      for (let i = 0; i < WRITES_AT_START; i++) {
        const r = targets[i % targets.length] as { firstBlock: number; blockCount: number };
        const b = Math.max(2, r.firstBlock + prng.below(r.blockCount));
        const data = Buffer.alloc(512);
        prng.fill(data);
        volume.writeBlocks(b, data);
      }
      return await done;
    } finally {
      volume.close();
    }
  }

  it('backs up --blocks 0:1000 2000:500 as two elements with an exact block index (CLI)', () => {
    const out = ok(['backup', image(), '--to', at('cli-ranges.aws'), '--blocks', '0:1000', '2000:500', '--json']);
    const summary = JSON.parse(out).summary;
    expect(summary.elements.map((e: { name: string; kind: string; blocks: number; bytes: number }) => [e.name, e.kind, e.blocks, e.bytes])).toEqual([
      ['BLOCKS.R0001', 'blocks', Math.ceil(1000 / FBA_BLOCKS_PER_TAPE_BLOCK), 1000 * 512],
      ['BLOCKS.R0002', 'blocks', Math.ceil(500 / FBA_BLOCKS_PER_TAPE_BLOCK), 500 * 512],
    ]);
    const volume = openVolume(image(), { readOnly: true });
    try {
      const set = selectBackupSet(volume, { blockRanges: RANGES });
      for (let b = 0; b < BLOCKS; b++) {
        const slot = set.slots.unitToSlot[b] as number;
        if (!inRanges(b)) {
          expect(slot, `block ${b}`).toBe(-1);
          continue;
        }
        const first = set.slots.firstUnit[slot] as number;
        expect(b >= first && b < first + (set.slots.unitSpan[slot] as number), `block ${b} is inside slot ${slot}`).toBe(true);
        const e = set.elements[set.slots.element[slot] as number];
        expect(e?.range && b >= e.range.firstBlock && b < e.range.firstBlock + e.range.blockCount).toBe(true);
        expect(set.slots.lengths[slot]).toBe((set.slots.unitSpan[slot] as number) * 512);
      }
    } finally {
      volume.close();
    }
  });

  it('restores exactly the ranges as of the start instant under concurrent FBA writes, and nothing else', async () => {
    const tape = at('ranges.aws');
    const reference = at('ranges-reference.fba');
    const run = await backupUnderLoad(tape, reference, RANGES);
    console.log(
      `[backup-elements] FBA ranges seed=${seed}: in order ${run.summary.copiedInOrder}, out of order ${run.summary.copiedOutOfOrder}, load writes ${run.load?.writes}`,
    );
    // Out of order at least for the writes made at the start instant; how many the workers got to first is timing.
    expect(run.summary.copiedOutOfOrder).toBeGreaterThan(0);
    expect(run.summary.copiedInOrder + run.summary.copiedOutOfOrder).toBe(24);
    // Restore onto a copy of the volume as the host left it: ranges go back to the start instant, the rest stays.
    const target = at('ranges-target.fba');
    copyFileSync(image(), target);
    const after = readFileSync(target);
    const ref = readFileSync(reference);
    let changedInRanges = 0;
    let changedOutside = 0;
    for (let b = 0; b < BLOCKS; b++) {
      if (block(after, b).equals(block(ref, b))) continue;
      if (inRanges(b)) changedInRanges++;
      else changedOutside++;
    }
    expect(changedInRanges, 'the host wrote into the ranges after the start instant').toBeGreaterThan(0);
    expect(changedOutside, 'and outside them').toBeGreaterThan(0);
    ok(['restore', tape, '--to', target]);
    const restored = readFileSync(target);
    const wrong: number[] = [];
    for (let b = 0; b < BLOCKS; b++) {
      const expected = inRanges(b) ? block(ref, b) : block(after, b);
      if (!block(restored, b).equals(expected)) wrong.push(b);
    }
    expect(wrong.slice(0, 10), `seed ${seed}: blocks that differ from what they should be`).toEqual([]);
  });

  it('restores a whole FBA volume backed up under load into a new image byte-identical to the reference', async () => {
    const tape = at('whole-fba.aws');
    const reference = at('whole-reference.fba');
    const run = await backupUnderLoad(tape, reference);
    expect(run.summary.elements.map((e) => [e.name, e.kind])).toEqual([['FULLVOLUME.FBA001', 'volume']]);
    expect(run.summary.copiedOutOfOrder).toBeGreaterThan(0);
    expect(runTool('cmp', ['-s', image(), reference]).status, 'the host changed the volume after the start instant').toBe(1);
    ok(['restore', tape, '--to', at('whole-restored.fba'), '--new-volume']);
    const cmp = runTool('cmp', [reference, at('whole-restored.fba')]);
    expect(cmp.status, `seed ${seed}: ${cmp.stdout}${cmp.stderr}`).toBe(0);
  });
});
