/**
 * Layer: differential interop. Volumes the real Hercules 3.13 tools make at run time, read by
 * snaptape. Random (seeded) `dasdload` control files on 3380 and 3390 — SEQ, TEXT and EMPTY data
 * sets of RECFM F, FB, V, VB and U, in tracks or cylinders, names up to 44 characters — make
 * volumes whose data sets `ls` lists as `dasdls` does and `get` reads as `dasdseq` does; `dasdcopy`
 * to CCKD (zlib, bzip2, none) gives a volume snaptape compares equal to the original, and a CCKD
 * snaptape converts it to is copied back by `dasdcopy` to the same tracks and passes `cckdcdsk`.
 * A compressed FBA image (which snaptape does not open) is refused with a dasdcopy command that
 * works.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VolumeListing } from '../../src/api/volume-api.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { expectCckdcdskClean } from '../cckd/cckd-helpers.js';
import { asDasdlsRow, dasdlsInfo, trackImagesThroughEot } from '../harness/dasd.js';
import { runTool } from '../harness/external-tools.js';
import { fcSeed } from '../harness/fc-seed.js';
import { runInProcess, runInProcessOk } from '../harness/run-cli-in-process.js';
import { runSnaptape, runSnaptapeJson } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

describe('a compressed FBA image (dasdinit -z of an FBA device)', () => {
  it('is refused with one IMAGE_FORMAT line whose dasdcopy command converts it into an image snaptape reads', () => {
    const image = join(dir.path, 'fba.cfba');
    const made = runTool('dasdinit', ['-z', image, '3370', 'CFBA01', '400'], { cwd: dir.path });
    expect(made.status, made.stderr).toBe(0);
    const r = runSnaptape(['ls', image]);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.IMAGE_FORMAT);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const advice = /\(convert it with Hercules (dasdcopy [^)]*)\)/.exec(r.stderr)?.[1];
    expect(advice, r.stderr).toBeDefined();
    const [tool, ...args] = (advice as string).split(' ');
    const converted = runTool(tool as string, args, { cwd: dir.path });
    expect(converted.status, `${advice}: ${converted.stdout}${converted.stderr}`).toBe(0);
    const output = args[args.length - 1] as string;
    expect(runSnaptapeJson<VolumeListing>(['ls', join(dir.path, output)])).toMatchObject({ format: 'fba', volser: 'CFBA01', blocks: 400 });
  });
});

const qualifier = fc.stringMatching(/^[A-Z#@$][A-Z0-9#@$-]{0,7}$/);
const dsnameArb = fc.oneof(
  fc
    .array(qualifier, { minLength: 1, maxLength: 5 })
    .map((qs) => qs.join('.'))
    // dasdload takes a line starting with # for a comment.
    .filter((n) => n.length <= 44 && n !== 'SYSVTOC' && !n.startsWith('#')),
  fc.array(fc.stringMatching(/^[A-Z][A-Z0-9]{7}$/), { minLength: 5, maxLength: 5 }).map((qs) => qs.join('.')),
);

interface LoadPlan {
  readonly name: string;
  readonly kind: 'SEQ' | 'TEXT' | 'EMPTY';
  readonly recfm: 'F' | 'FB' | 'V' | 'VB' | 'U';
  readonly lrecl: number;
  readonly perBlock: number;
  readonly cylinders: boolean;
  readonly quantity: number;
  readonly secondary: number;
  /** Share (0-1) of the space the data fills. */
  readonly fill: number;
  readonly seed: number;
}

const loadArb: fc.Arbitrary<LoadPlan> = fc.oneof(
  fc.record({
    name: dsnameArb,
    kind: fc.constantFrom('SEQ' as const, 'TEXT' as const),
    recfm: fc.constantFrom('F' as const, 'FB' as const),
    lrecl: fc.oneof(fc.constantFrom(80, 100, 4096), fc.integer({ min: 80, max: 20_000 })),
    perBlock: fc.integer({ min: 1, max: 80 }),
    cylinders: fc.boolean(),
    quantity: fc.integer({ min: 1, max: 20 }),
    secondary: fc.integer({ min: 0, max: 9 }),
    fill: fc.double({ min: 0, max: 0.7, noNaN: true }),
    seed: fc.nat(),
  }),
  fc.record({
    name: dsnameArb,
    kind: fc.constant('EMPTY' as const),
    recfm: fc.constantFrom('F' as const, 'FB' as const, 'V' as const, 'VB' as const, 'U' as const),
    lrecl: fc.integer({ min: 5, max: 8000 }),
    perBlock: fc.integer({ min: 1, max: 60 }),
    cylinders: fc.boolean(),
    quantity: fc.integer({ min: 1, max: 20 }),
    secondary: fc.integer({ min: 0, max: 9 }),
    fill: fc.constant(0),
    seed: fc.nat(),
  }),
);

/** dasdload's RECFM, LRECL and BLKSIZE for a plan (TEXT is 80-byte records). */
function dcb(p: LoadPlan): { lrecl: number; blksize: number } {
  const lrecl = p.kind === 'TEXT' ? 80 : p.recfm === 'U' ? 0 : p.lrecl;
  if (p.recfm === 'U') return { lrecl, blksize: Math.min(32_760, 512 * p.perBlock) };
  if (p.recfm === 'F') return { lrecl, blksize: lrecl };
  if (p.recfm === 'FB') return { lrecl, blksize: lrecl * Math.max(1, Math.min(p.perBlock, Math.floor(32_760 / lrecl))) };
  const v = Math.min(lrecl, 32_756);
  return { lrecl: v, blksize: p.recfm === 'V' ? v + 4 : Math.min(32_760, v * p.perBlock + 4) };
}

/** Tracks of a plan's primary space; for the data, a floor of the bytes a track holds (blocks of BLKSIZE, 3380 or 3390). */
const tracksOf = (p: LoadPlan): number => (p.cylinders ? 15 * Math.ceil(p.quantity / 8) : p.quantity);
function bytesPerTrack(type: string, blksize: number): number {
  // Device capacity formulas (track-capacity.md) are snaptape's; a rough floor is enough here.
  const track = type === '3380' ? 47_000 : 56_000;
  return Math.max(1, Math.floor(track / (blksize + 600))) * blksize;
}

function seededBytes(count: number, seed: number): Buffer {
  const out = Buffer.alloc(count);
  let x = (seed | 1) >>> 0;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const volumeArb = fc.record({
  type: fc.constantFrom('3380', '3390'),
  vtocTracks: fc.integer({ min: 1, max: 3 }),
  datasets: fc.uniqueArray(loadArb, { minLength: 1, maxLength: 5, selector: (d) => d.name }),
  dasdcopy: fc.constantFrom('-z', '-bz2', '-0'),
  compress: fc.constantFrom('zlib', 'bzip2', 'none'),
});

describe('volumes dasdload makes, read by snaptape', () => {
  it('ls lists what dasdls lists, get reads what dasdseq reads, and CCKD copies either way keep every track', async () => {
    const seed = fcSeed('dasdload-differential');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(volumeArb, async (plan) => {
        const work = join(dir.path, `load${run++}`);
        runTool('mkdir', ['-p', work]);
        // Room for every data set, each cylinder request on a boundary, and the VTOC.
        const tracks = 1 + plan.vtocTracks + plan.datasets.reduce((sum, p) => sum + tracksOf(p) + (p.cylinders ? 15 : 0), 0);
        const cylinders = Math.ceil(tracks / 15) + 1;
        const volser = `HL${String(run).padStart(4, '0')}`;
        const lines = [`${volser} ${plan.type} ${cylinders}`, `SYSVTOC VTOC TRK ${plan.vtocTracks}`];
        for (const [i, p] of plan.datasets.entries()) {
          const { lrecl, blksize } = dcb(p);
          const room = Math.floor(p.fill * tracksOf(p) * bytesPerTrack(plan.type, blksize));
          let file = '';
          if (p.kind === 'SEQ') {
            file = `seq${i}.bin`;
            writeFileSync(join(work, file), seededBytes(room, p.seed));
          } else if (p.kind === 'TEXT') {
            file = `text${i}.txt`;
            const records = Math.floor(room / 80);
            // dasdload refuses a TEXT line over 80 characters (HHCDL149E): a long name cuts the X's short.
            const line = (r: number): string => `${p.name} RECORD ${r} ${'X'.repeat((r * 7 + p.seed) % 50)}`.slice(0, 80);
            writeFileSync(join(work, file), Array.from({ length: records }, (_, r) => `${line(r)}\n`).join(''));
          }
          const space = p.cylinders ? `CYL ${Math.ceil(p.quantity / 8)}` : `TRK ${p.quantity}`;
          lines.push(`${p.name} ${p.kind} ${file} ${space} ${p.secondary} 0 PS ${p.recfm} ${lrecl} ${blksize}`);
        }
        writeFileSync(join(work, 'vol.ctl'), `${lines.join('\n')}\n`);
        const image = join(work, 'vol.ckd');
        const load = runTool('dasdload', ['vol.ctl', 'vol.ckd', '0'], { cwd: work });
        expect(load.status, load.stdout + load.stderr).toBe(0);
        expect(load.stdout + load.stderr).not.toMatch(/HHCDL015W|HHCDU004E/);

        const ours = JSON.parse(await runInProcessOk(['ls', image, '--json'])) as VolumeListing;
        const theirs = dasdlsInfo(image, work);
        expect(theirs.problems).toEqual([]);
        expect(ours.volser).toBe(volser);
        expect(ours.datasets.map((d) => d.name).sort()).toEqual(theirs.rows.map((r) => r.name).sort());
        for (const row of theirs.rows) {
          const { name, ...fields } = row;
          const d = ours.datasets.find((x) => x.name === name);
          expect(d && asDasdlsRow(d), `dasdls columns of ${name}`).toEqual(fields);
        }
        const seqs = new Map<string, Buffer>();
        for (const p of plan.datasets.filter((d) => d.recfm === 'F' || d.recfm === 'FB')) {
          rmSync(join(work, p.name), { force: true });
          const seq = runTool('dasdseq', [image, p.name], { cwd: work });
          expect(seq.stdout + seq.stderr, `dasdseq ${p.name}`).toMatch(/dasdseq wrote \d+ records/);
          await runInProcessOk(['get', image, p.name, join(work, 'got.bin'), '--force']);
          const theirsBytes = readFileSync(join(work, p.name));
          expect(readFileSync(join(work, 'got.bin')).equals(theirsBytes), `get and dasdseq of ${p.name}`).toBe(true);
          seqs.set(p.name, theirsBytes);
        }
        const check = await runInProcess(['check', image, '--json']);
        expect(check.status, check.stdout).toBe(0);

        // Hercules' CCKD copy is the same volume to snaptape.
        const herculesCckd = join(work, 'hercules.cckd');
        expect(runTool('dasdcopy', ['-q', plan.dasdcopy, '-o', 'CCKD', image, herculesCckd], { cwd: work }).status).toBe(0);
        const compared = await runInProcess(['compare', image, herculesCckd]);
        expect(compared.status, compared.stdout + compared.stderr).toBe(0);
        for (const [name, bytes] of seqs) {
          await runInProcessOk(['get', herculesCckd, name, join(work, 'got.bin'), '--force']);
          expect(readFileSync(join(work, 'got.bin')).equals(bytes), `get of ${name} from the dasdcopy CCKD`).toBe(true);
        }
        // snaptape's CCKD copy is the same volume to Hercules (through EOT: dasdcopy leaves its
        // buffer's leftovers past the marker of a short track).
        const oursCckd = join(work, 'ours.cckd');
        await runInProcessOk(['convert', image, oursCckd, '--format', 'cckd', '--compress', plan.compress]);
        expectCckdcdskClean(oursCckd, work);
        const back = join(work, 'back.ckd');
        expect(runTool('dasdcopy', ['-q', '-o', 'CKD', oursCckd, back], { cwd: work }).status).toBe(0);
        const want = trackImagesThroughEot(image);
        const got = trackImagesThroughEot(back);
        expect(got.length).toBe(want.length);
        expect(
          want.flatMap((t, i) => (t.equals(got[i] as Buffer) ? [] : [i])),
          'tracks that differ after dasdcopy of our CCKD',
        ).toEqual([]);
      }),
      { numRuns: 5, seed, endOnFailure: true },
    );
  }, 60_000);
});
