/**
 * Layers: property test against a shadow model, seeded. Random sequences of alloc/delete (tracks
 * and cylinders) on a small 3390; the shadow is a Set of used tracks with the documented first-fit
 * rule (native-layout/vtoc-procedures.md: track 0, the VTOC and every extent are in use; a request takes the first
 * free run that holds it, else the free runs in disk order, at most 16 extents). After every step:
 * the allocator's extents, `describeVolume().freeSpace`, the Format-5 chain decoded byte by byte
 * here, and the Format-4 counters; after each sequence: `snaptape ls --json` and Hercules `dasdls`.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume, describeVolume, type VolumeListing } from '../../src/api/volume-api.js';
import { DatasetError, NoSpaceError } from '../../src/errors/snaptape-error.js';
import type { Volume } from '../../src/volume/volume.js';
import { allocateDataset, deleteDataset } from '../../src/vtoc/dataset-allocator.js';
import { RECFM_BITS } from '../../src/vtoc/dataset-attributes.js';
import { extentRun } from '../../src/vtoc/extent.js';
import { readVtoc } from '../../src/vtoc/vtoc-reader.js';
import { dasdlsInfo } from '../harness/dasd.js';
import { fcSeed } from '../harness/fc-seed.js';
import { runSnaptapeJson } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

const HEADS = 15;
const CYLINDERS = 12;
const TRACKS = HEADS * CYLINDERS;
const MAX_EXTENTS = 16;

interface Run {
  readonly first: number;
  readonly count: number;
}

/** The shadow model: which tracks are in use, and which data set owns which runs. */
class Shadow {
  readonly used = new Set<number>([0, 1]); // track 0 and the 1-track VTOC of a small volume
  readonly datasets = new Map<string, Run[]>();

  freeRuns(): Run[] {
    const runs: Run[] = [];
    for (let t = 0; t < TRACKS; t++) {
      if (this.used.has(t)) continue;
      const last = runs[runs.length - 1];
      if (last && last.first + last.count === t) runs[runs.length - 1] = { first: last.first, count: last.count + 1 };
      else runs.push({ first: t, count: 1 });
    }
    return runs;
  }

  freeCylinderRuns(): Run[] {
    const runs: Run[] = [];
    for (let c = 0; c < CYLINDERS; c++) {
      let free = true;
      for (let h = 0; h < HEADS; h++) if (this.used.has(c * HEADS + h)) free = false;
      if (!free) continue;
      const last = runs[runs.length - 1];
      if (last && last.first + last.count === c * HEADS) runs[runs.length - 1] = { first: last.first, count: last.count + HEADS };
      else runs.push({ first: c * HEADS, count: HEADS });
    }
    return runs;
  }

  /** First fit, as documented; undefined when the request cannot be met. */
  plan(trackCount: number, cylinders: boolean): Run[] | undefined {
    const runs = cylinders ? this.freeCylinderRuns() : this.freeRuns();
    const single = runs.find((r) => r.count >= trackCount);
    if (single) return [{ first: single.first, count: trackCount }];
    const picked: Run[] = [];
    let needed = trackCount;
    for (const r of runs) {
      if (needed === 0 || picked.length === MAX_EXTENTS) break;
      const take = Math.min(r.count, needed);
      picked.push({ first: r.first, count: take });
      needed -= take;
    }
    return needed === 0 ? picked : undefined;
  }

  take(name: string, runs: Run[]): void {
    for (const r of runs)
      for (let t = r.first; t < r.first + r.count; t++) {
        expect(this.used.has(t), `track ${t} given to ${name} is free in the shadow`).toBe(false);
        this.used.add(t);
      }
    this.datasets.set(name, runs);
  }

  release(name: string): void {
    for (const r of this.datasets.get(name) ?? []) for (let t = r.first; t < r.first + r.count; t++) this.used.delete(t);
    this.datasets.delete(name);
  }

  summary(): NonNullable<VolumeListing['freeSpace']> {
    const runs = this.freeRuns();
    return {
      freeTracks: runs.reduce((n, r) => n + r.count, 0),
      freeCylinders: this.freeCylinderRuns().reduce((n, r) => n + r.count / HEADS, 0),
      freeExtents: runs.length,
      largestFreeTracks: runs.reduce((m, r) => Math.max(m, r.count), 0),
    };
  }
}

/** The Format-5 chain decoded from raw DSCB bytes (native-layout/dscb-format5.md), as runs of tracks. */
function decodeFormat5Chain(volume: Volume): Run[] {
  const view = readVtoc(volume);
  const slotAt = (c: number, h: number, r: number) => view.slots.find((s) => s.address.cylinder === c && s.address.head === h && s.address.record === r);
  let slot = slotAt(view.format4Address.cylinder, view.format4Address.head, view.format4Address.record + 1);
  const runs: Run[] = [];
  for (let guard = 0; slot && guard < 50; guard++) {
    const d = slot.dscb;
    expect(d.subarray(0, 4).toString('hex'), 'Format-5 key id').toBe('05050505');
    expect(d[44], 'Format-5 id').toBe(0xf5);
    const entries = [...Array.from({ length: 8 }, (_, i) => 4 + i * 5), ...Array.from({ length: 18 }, (_, i) => 45 + i * 5)];
    for (const at of entries) {
      const relativeTrack = d.readUInt16BE(at);
      const cylinders = d.readUInt16BE(at + 2);
      const tracks = d[at + 4] as number;
      if (relativeTrack === 0 && cylinders === 0 && tracks === 0) continue;
      runs.push({ first: relativeTrack, count: cylinders * HEADS + tracks });
    }
    const next = d.subarray(135, 140);
    slot = next.every((b) => b === 0) ? undefined : slotAt(next.readUInt16BE(0), next.readUInt16BE(2), next[4] as number);
    if (!next.every((b) => b === 0)) expect(slot, 'the Format-5 chain pointer names a DSCB').toBeDefined();
  }
  return runs.sort((a, b) => a.first - b.first);
}

function checkAgainstShadow(volume: Volume, shadow: Shadow): void {
  expect(describeVolume(volume).freeSpace).toEqual(shadow.summary());
  expect(decodeFormat5Chain(volume)).toEqual(shadow.freeRuns());
  const view = readVtoc(volume);
  const a = view.format4Address;
  const f4 = view.slots.find((s) => s.address.cylinder === a.cylinder && s.address.head === a.head && s.address.record === a.record)?.dscb ?? Buffer.alloc(140);
  expect(f4[44]).toBe(0xf4);
  expect((f4[58] as number) & 0x80, 'DS4VTOCI says the Format-5 is valid').toBe(0);
  const emptyDscbs = view.slots.filter((s) => s.dscb.every((b) => b === 0)).length;
  expect(f4.readUInt16BE(50), 'DS4DSREC counts the Format-0 DSCBs').toBe(emptyDscbs);
  expect(view.datasets.map((d) => d.name).sort()).toEqual([...shadow.datasets.keys()].sort());
}

type Step = { op: 'alloc'; cylinders: boolean; quantity: number } | { op: 'delete'; pick: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('alloc' as const), cylinders: fc.constant(false), quantity: fc.integer({ min: 1, max: 45 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('alloc' as const), cylinders: fc.constant(true), quantity: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }) },
);

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

describe('free space stays exact (shadow model)', () => {
  it('random alloc/delete sequences: extents, free space, Format-5 and Format-4 match the shadow', () => {
    const seed = fcSeed('free-space-shadow');
    let runIndex = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 4, maxLength: 16 }), (steps) => {
        const image = join(dir.path, `shadow-${runIndex++}.ckd`);
        const volume = createVolume(image, { type: '3390', cylinders: CYLINDERS, volser: 'SHADOW' });
        const shadow = new Shadow();
        let serial = 0;
        try {
          checkAgainstShadow(volume, shadow);
          for (const step of steps) {
            if (step.op === 'delete') {
              const names = [...shadow.datasets.keys()];
              if (names.length === 0) {
                expect(() => deleteDataset(volume, 'NO.SUCH.DS')).toThrow(DatasetError);
                continue;
              }
              const name = names[step.pick % names.length] as string;
              deleteDataset(volume, name);
              shadow.release(name);
            } else {
              const name = `SHADOW.D${String(++serial).padStart(3, '0')}`;
              const trackCount = step.cylinders ? step.quantity * HEADS : step.quantity;
              const plan = shadow.plan(trackCount, step.cylinders);
              const request = {
                name,
                dsorg: 'PS' as const,
                recfm: RECFM_BITS.F | RECFM_BITS.blocked,
                recordLength: 80,
                blockSize: 800,
                ...(step.cylinders ? { cylinders: step.quantity } : { tracks: step.quantity }),
              };
              if (!plan) {
                expect(() => allocateDataset(volume, request)).toThrow(NoSpaceError);
                continue;
              }
              const entry = allocateDataset(volume, request);
              const got = entry.extents.map((e) => extentRun(volume.ckd, e)).map((r) => ({ first: r.firstTrack, count: r.trackCount }));
              expect(got, `extents of ${name} (${trackCount} tracks${step.cylinders ? ', cylinders' : ''})`).toEqual(plan);
              expect(entry.extents.map((e) => e.sequence)).toEqual(plan.map((_, i) => i));
              if (step.cylinders) for (const e of entry.extents) expect([e.type, e.begin.head, e.end.head]).toEqual([0x81, 0, HEADS - 1]);
              shadow.take(name, plan);
            }
            checkAgainstShadow(volume, shadow);
          }
        } finally {
          volume.close();
        }
        // The CLI and Hercules see the same volume.
        const listing = runSnaptapeJson<VolumeListing>(['ls', image]);
        expect(listing.freeSpace).toEqual(shadow.summary());
        const theirs = dasdlsInfo(image, dir.path);
        expect(theirs.rows.map((r) => [r.name, r.tracks, r.extents]).sort()).toEqual(
          [...shadow.datasets.entries()].map(([n, runs]) => [n, runs.reduce((s, r) => s + r.count, 0), runs.length]).sort(),
        );
      }),
      { seed, numRuns: 12 },
    );
  });
});
