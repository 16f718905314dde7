/**
 * Layer: differential interop with Hercules 3.13 `dasdls` and `dasdseq`, on random (seeded)
 * volumes snaptape makes: 3380 and 3390 of a few cylinders, a VTOC of 1-3 tracks, free space cut
 * into holes by deleted filler data sets (so data sets get several extents, across cylinders), then
 * data sets of RECFM F, FB, V, VB and U, PS and PO, in tracks or cylinders, names up to the
 * 44-character limit, empty or written by `put`. `dasdls -info` must list what `ls` lists, column
 * by column, and `dasdseq` must extract from each F/FB PS data set what `get` extracts.
 * (vtoc-hercules.test.ts has the fixed cases; this one wanders.)
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VolumeListing } from '../../src/api/volume-api.js';
import { asDasdlsRow, dasdlsInfo } from '../harness/dasd.js';
import { runTool } from '../harness/external-tools.js';
import { fcSeed } from '../harness/fc-seed.js';
import { runInProcess, runInProcessOk } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

const qualifier = fc.stringMatching(/^[A-Z#@$][A-Z0-9#@$-]{0,7}$/);
/** Data set names, a third of them exactly 44 characters. */
const dsnameArb = fc.oneof(
  fc
    .array(qualifier, { minLength: 1, maxLength: 5 })
    .map((qs) => qs.join('.'))
    .filter((n) => n.length <= 44),
  fc.array(fc.stringMatching(/^[A-Z][A-Z0-9]{7}$/), { minLength: 5, maxLength: 5 }).map((qs) => qs.join('.')),
);

interface DataSetPlan {
  readonly name: string;
  readonly recfm: 'F' | 'FB' | 'V' | 'VB' | 'U';
  readonly lrecl: number;
  /** Records (F, FB, V, VB) or bytes (U) per block, from which BLKSIZE follows. */
  readonly perBlock: number;
  readonly cylinders: boolean;
  readonly quantity: number;
  readonly secondary: number | null;
  readonly po: boolean;
  /** Bytes put into it (F, FB and U PS only; 0: left empty). */
  readonly bytes: number;
}

const dataSetArb: fc.Arbitrary<DataSetPlan> = fc.record({
  name: dsnameArb,
  recfm: fc.constantFrom('F' as const, 'FB' as const, 'V' as const, 'VB' as const, 'U' as const),
  lrecl: fc.oneof(fc.constantFrom(80, 100, 512, 4096), fc.integer({ min: 1, max: 8000 })),
  perBlock: fc.integer({ min: 1, max: 60 }),
  cylinders: fc.boolean(),
  quantity: fc.integer({ min: 1, max: 20 }),
  secondary: fc.option(fc.integer({ min: 0, max: 99 })),
  po: fc.boolean(),
  bytes: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 120_000 })),
});

const planArb = fc.record({
  type: fc.constantFrom('3380', '3390'),
  cylinders: fc.integer({ min: 4, max: 12 }),
  vtocTracks: fc.integer({ min: 1, max: 3 }),
  fillers: fc.array(fc.record({ tracks: fc.integer({ min: 1, max: 4 }), keep: fc.boolean() }), { maxLength: 12 }),
  datasets: fc.uniqueArray(dataSetArb, { minLength: 1, maxLength: 6, selector: (d) => d.name }),
});

/** The alloc options of a plan: LRECL and BLKSIZE kept where the RECFM allows them. */
function allocArgs(p: DataSetPlan): string[] {
  let lrecl = p.lrecl;
  let blksize: number;
  if (p.recfm === 'U') {
    lrecl = 0;
    blksize = Math.min(32_760, p.perBlock * 512);
  } else if (p.recfm === 'F') blksize = lrecl;
  else if (p.recfm === 'FB') blksize = lrecl * Math.max(1, Math.min(p.perBlock, Math.floor(32_760 / lrecl)));
  else {
    lrecl = Math.max(5, Math.min(lrecl, 32_756));
    blksize = p.recfm === 'V' ? lrecl + 4 : Math.min(32_760, lrecl * p.perBlock + 4);
  }
  return [
    p.cylinders ? '--cyls' : '--tracks',
    String(p.cylinders ? Math.ceil(p.quantity / 8) : p.quantity),
    '--recfm',
    p.recfm,
    '--lrecl',
    String(lrecl),
    '--blksize',
    String(blksize),
    ...(p.secondary === null ? [] : ['--secondary', String(p.secondary)]),
    ...(p.po ? ['--dsorg', 'PO', '--dir', String(1 + (p.perBlock % 10))] : []),
  ];
}

function bytesOf(count: number, salt: number): Buffer {
  const out = Buffer.alloc(count);
  let x = (salt * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('volumes snaptape makes, as dasdls and dasdseq see them', () => {
  it('random allocations on fragmented 3380/3390 volumes: dasdls lists what ls lists, dasdseq reads what get reads', async () => {
    const seed = fcSeed('alloc-differential');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(planArb, async (plan) => {
        const work = join(dir.path, `run${run++}`);
        runTool('mkdir', ['-p', work]);
        const image = join(work, 'v.ckd');
        await runInProcessOk([
          'init',
          image,
          '--type',
          plan.type,
          '--cyls',
          String(plan.cylinders),
          '--volser',
          `DF${String(run).padStart(4, '0')}`,
          '--vtoc-tracks',
          String(plan.vtocTracks),
        ]);
        // Filler data sets, some deleted again: holes in the free space.
        for (const [i, f] of plan.fillers.entries()) {
          const name = `FILLER.F${i}`;
          if ((await runInProcess(['alloc', image, name, '--tracks', String(f.tracks)])).status === 0 && !f.keep) await runInProcessOk(['delete', image, name]);
        }
        const written = new Map<string, Buffer | null>();
        for (const [i, p] of plan.datasets.entries()) {
          const r = await runInProcess(['alloc', image, p.name, ...allocArgs(p)]);
          // A volume or VTOC too full is a typed refusal (exit 9, NOSPACE): nothing to compare then.
          if (r.status !== 0) {
            expect(r.stderr, `alloc ${p.name} ${allocArgs(p).join(' ')}`).toMatch(/^snaptape: Cannot allocate .* on DF\d{4}: /);
            continue;
          }
          written.set(p.name, null);
          if (p.po || p.bytes === 0 || p.recfm === 'V' || p.recfm === 'VB') continue;
          const host = join(work, `in${i}`);
          writeFileSync(host, bytesOf(p.bytes, i + run));
          const put = await runInProcess(['put', image, p.name, host]);
          if (put.status === 0) written.set(p.name, readFileSync(host));
          else expect(put.stderr).toMatch(/they need \d+ tracks and the data set has \d+/);
        }
        const ours = JSON.parse(await runInProcessOk(['ls', image, '--json'])) as VolumeListing;
        const theirs = dasdlsInfo(image, work);
        expect(theirs.problems).toEqual([]);
        expect(theirs.volser).toBe(ours.volser);
        expect(theirs.rows.map((r) => r.name).sort()).toEqual(ours.datasets.map((d) => d.name).sort());
        for (const row of theirs.rows) {
          const { name, ...fields } = row;
          const d = ours.datasets.find((x) => x.name === name);
          expect(d && asDasdlsRow(d), `dasdls columns of ${name}`).toEqual(fields);
        }
        for (const p of plan.datasets) {
          if (!written.has(p.name) || p.po || (p.recfm !== 'F' && p.recfm !== 'FB')) continue;
          rmSync(join(work, p.name), { force: true });
          const seq = runTool('dasdseq', [image, p.name], { cwd: work });
          expect(seq.stdout + seq.stderr, `dasdseq ${p.name}`).toMatch(/dasdseq wrote \d+ records/);
          const got = join(work, 'got.bin');
          await runInProcessOk(['get', image, p.name, got, '--force']);
          const back = readFileSync(got);
          expect(existsSync(join(work, p.name)) ? readFileSync(join(work, p.name)).equals(back) : back.length === 0, `dasdseq and get of ${p.name}`).toBe(true);
          const put = written.get(p.name);
          if (put) expect(back.subarray(0, put.length).equals(put)).toBe(true);
        }
      }),
      { numRuns: 4, seed, endOnFailure: true },
    );
  }, 60_000);
});
