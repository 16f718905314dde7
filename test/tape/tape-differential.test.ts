/**
 * Layer: differential interop with the real Hercules 3.13 tape tools, on random (seeded) tapes.
 * Tapes `tape put` writes — several data sets, RECFM F, FB and U, text and binary, blocks up to
 * 65535 bytes (HDR2 large block length) — are listed by `hetmap -a` with the labels, files, blocks
 * and bytes `tape ls` shows, and `hetget` extracts what `tape get` extracts; after `hetupd -z` or
 * `-b` (compressed HET) snaptape lists, reads and checks the same tape, its stored bytes being
 * hetmap's compressed bytes. A full-volume backup tape compressed by `hetupd` restores and
 * verifies from the HET file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TapeListing } from '../../src/tape/list-tape.js';
import { runTool } from '../harness/external-tools.js';
import { fcSeed } from '../harness/fc-seed.js';
import { runInProcess, runInProcessOk } from '../harness/run-cli-in-process.js';
import { sha256File } from '../harness/dasd.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

/** One section of `hetmap -a`: a label's fields, or a file's counts. */
type HetmapSection = Readonly<Record<string, string>>;

/** `hetmap -a` as its sections ("Label : 'HDR1'" ... or "File # : 2" ...), values unquoted. */
function hetmapSections(path: string): HetmapSection[] {
  const r = runTool('hetmap', ['-a', path]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split(/^-{21}$/m)
    .map((part) => {
      const fields: Record<string, string> = {};
      for (const line of part.split('\n')) {
        const m = /^(\S[^:]*?)\s*: (.*)$/.exec(line);
        if (m) fields[m[1] as string] = (m[2] as string).replace(/^'(.*)'$/, '$1');
      }
      return fields;
    })
    .filter((s) => s['Label'] !== undefined || s['File #'] !== undefined);
}

interface DataSetPlan {
  readonly dsname: string;
  readonly recfm: 'F' | 'FB' | 'U';
  readonly lrecl: number;
  readonly blksize: number;
  readonly text: boolean;
  readonly bytes: number;
  readonly seed: number;
}

const qualifier = fc.stringMatching(/^[A-Z#@$][A-Z0-9#@$-]{0,7}$/);
const dsnameArb = fc
  .array(qualifier, { minLength: 1, maxLength: 6 })
  .map((qs) => qs.join('.'))
  .filter((n) => n.length <= 44);

const dataSetArb: fc.Arbitrary<DataSetPlan> = fc.oneof(
  // Text: FB or F records of LRECL, blank-padded EBCDIC.
  fc.record({
    dsname: dsnameArb,
    recfm: fc.constantFrom('F' as const, 'FB' as const),
    lrecl: fc.constantFrom(80, 133, 255),
    blksize: fc.integer({ min: 1, max: 120 }),
    text: fc.constant(true),
    bytes: fc.integer({ min: 0, max: 40_000 }),
    seed: fc.nat(),
  }),
  // Binary: fixed records (the last padded) or U blocks up to the 65535 an AWS block holds.
  fc.record({
    dsname: dsnameArb,
    recfm: fc.constantFrom('F' as const, 'FB' as const),
    lrecl: fc.integer({ min: 1, max: 32_760 }),
    blksize: fc.integer({ min: 1, max: 30 }),
    text: fc.constant(false),
    bytes: fc.integer({ min: 1, max: 150_000 }),
    seed: fc.nat(),
  }),
  fc.record({
    dsname: dsnameArb,
    recfm: fc.constant('U' as const),
    lrecl: fc.constant(0),
    blksize: fc.integer({ min: 18, max: 65_535 }),
    text: fc.constant(false),
    bytes: fc.integer({ min: 1, max: 200_000 }),
    seed: fc.nat(),
  }),
);

/** BLKSIZE from the plan's factor: a multiple of LRECL for FB (at most 32760), LRECL for F. */
function blockSize(p: DataSetPlan): number {
  if (p.recfm === 'U') return p.blksize;
  if (p.recfm === 'F') return p.lrecl;
  return p.lrecl * Math.max(1, Math.min(p.blksize, Math.floor(32_760 / p.lrecl)));
}

/** Host file content: text lines shorter than LRECL, or pseudo-random bytes (xorshift). */
function hostContent(p: DataSetPlan): Buffer {
  let x = (p.seed | 1) >>> 0;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  if (!p.text) return Buffer.from(Array.from({ length: p.bytes }, () => next() & 0xff));
  const lines: string[] = [];
  for (let size = 0; size < p.bytes;) {
    const words = 1 + (next() % 8);
    const line = `REC ${lines.length} ${Array.from({ length: words }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.slice(0, 1 + (next() % 9))).join(' ')}`;
    lines.push(line.slice(0, p.lrecl).trimEnd());
    size += line.length + 1;
  }
  return Buffer.from(lines.map((l) => `${l}\n`).join(''), 'latin1');
}

/** What a tape of these data sets must look like in hetmap -a, from the plan and tape ls. */
function expectHetmapAgrees(path: string, listing: TapeListing, volser: string): void {
  const sections = hetmapSections(path);
  const labels = sections.filter((s) => s['Label'] !== undefined);
  const files = sections.filter((s) => s['File #'] !== undefined);
  expect(labels[0]).toMatchObject({ Label: 'VOL1', 'Volume Serial': volser });
  expect(
    files.map((f) => [Number(f['File #']), Number(f['Blocks']), Number(f['Uncompressed bytes']), Number(f['Compressed bytes'])]),
    'files: number, blocks, bytes, stored bytes',
  ).toEqual(listing.files.map((f) => [f.fileNumber, f.blockCount, f.byteCount, f.storedBytes]));
  for (const f of files.filter((s) => Number(s['Blocks']) > 0)) {
    const ours = listing.files.find((o) => o.fileNumber === Number(f['File #']));
    expect([Number(f['Min Blocksize']), Number(f['Max Blocksize'])], `file ${f['File #']} block sizes`).toEqual([ours?.minBlockBytes, ours?.maxBlockBytes]);
  }
  for (const kind of ['HDR', 'EOF'] as const) {
    const one = labels.filter((l) => l['Label'] === `${kind}1`);
    const two = labels.filter((l) => l['Label'] === `${kind}2`);
    expect(one.length, `${kind}1 labels`).toBe(listing.dataSets.length);
    listing.dataSets.forEach((d, i) => {
      expect(one[i], `${kind}1 of data set ${d.fileSequence}`).toMatchObject({
        'Dataset ID': d.dsname.padEnd(17),
        'Volume Serial': volser,
        'Volume Sequence': '0001',
        'Dataset Sequence': String(d.fileSequence).padStart(4, '0'),
        'Block Count Low': String(kind === 'HDR' ? 0 : d.blockCount).padStart(6, '0'),
      });
      const large = d.blockSizeBytes > 32_760;
      expect(two[i], `${kind}2 of data set ${d.fileSequence}`).toMatchObject({
        'Record Format': d.recordFormat.slice(0, 1),
        'Block Size': String(large ? 0 : d.blockSizeBytes).padStart(5, '0'),
        'Record Length': String(d.recordLengthBytes).padStart(5, '0'),
        'Block Attribute': d.recordFormat.endsWith('B') ? 'B' : ' ',
        'Large Block Length': large ? String(d.blockSizeBytes).padStart(10, '0') : ' '.repeat(10),
      });
    });
  }
}

describe('tapes tape put writes, read by the Hercules tools', () => {
  it('hetmap -a, hetget and hetupd -z/-b agree with tape ls and tape get (random data sets)', async () => {
    const seed = fcSeed('tape-differential');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(dataSetArb, { minLength: 1, maxLength: 4 }), fc.boolean(), async (plans, bzip2) => {
        const work = join(dir.path, `run${run}`);
        const volser = `DIF${String(run++).padStart(3, '0')}`;
        runTool('mkdir', ['-p', work]);
        const tape = join(work, 't.aws');
        await runInProcessOk(['tape', 'init', tape, '--volser', volser]);
        const hostFiles = plans.map((p, i) => {
          const host = join(work, `in${i}`);
          writeFileSync(host, hostContent(p));
          const recfm = ['--recfm', p.recfm, '--lrecl', String(p.lrecl), '--blksize', String(blockSize(p))];
          return { host, args: ['tape', 'put', tape, host, '--dsn', p.dsname, ...recfm, ...(p.text ? ['--text'] : [])] };
        });
        for (const h of hostFiles) await runInProcessOk(h.args);
        const listing = JSON.parse(await runInProcessOk(['tape', 'ls', tape, '--json'])) as TapeListing;
        expect(listing.dataSets.map((d) => d.dsname)).toEqual(plans.map((p) => p.dsname.slice(-17)));
        expectHetmapAgrees(tape, listing, volser);

        // hetget extracts each data set with the bytes tape get extracts (and -a -s the text).
        const ours: Buffer[] = [];
        for (const [i, p] of plans.entries()) {
          const n = String(i + 1);
          await runInProcessOk(['tape', 'get', tape, n, join(work, `ours${n}`)]);
          ours.push(readFileSync(join(work, `ours${n}`)));
          expect(runTool('hetget', [tape, join(work, `het${n}`), n]).status).toBe(0);
          expect(readFileSync(join(work, `het${n}`)).equals(ours[i] as Buffer), `hetget ${n}`).toBe(true);
          if (p.text) {
            await runInProcessOk(['tape', 'get', tape, n, join(work, `ours${n}.txt`), '--text']);
            expect(runTool('hetget', ['-a', '-s', tape, join(work, `het${n}.txt`), n]).status).toBe(0);
            expect(readFileSync(join(work, `ours${n}.txt`), 'latin1')).toBe(readFileSync(join(work, `het${n}.txt`), 'latin1'));
            expect(readFileSync(join(work, `ours${n}.txt`)).equals(readFileSync(hostFiles[i]?.host as string))).toBe(true);
          }
        }

        // Compressed by hetupd (bzip2 cannot take a 65535-byte block that does not shrink): the same tape.
        const big = listing.files.some((f) => f.maxBlockBytes > 65_000);
        const het = join(work, 't.het');
        const upd = runTool('hetupd', [bzip2 && !big ? '-b' : '-z', tape, het]);
        expect(upd.status, upd.stdout + upd.stderr).toBe(0);
        const hetListing = JSON.parse(await runInProcessOk(['tape', 'ls', het, '--json'])) as TapeListing;
        expect(hetListing.dataSets).toEqual(listing.dataSets);
        expect(hetListing.files.map((f) => [f.fileNumber, f.blockCount, f.byteCount])).toEqual(
          listing.files.map((f) => [f.fileNumber, f.blockCount, f.byteCount]),
        );
        expectHetmapAgrees(het, hetListing, volser);
        for (const [i] of plans.entries()) {
          const n = String(i + 1);
          await runInProcessOk(['tape', 'get', het, n, join(work, `hetours${n}`)]);
          expect(readFileSync(join(work, `hetours${n}`)).equals(ours[i] as Buffer), `tape get ${n} of the HET tape`).toBe(true);
        }
        const check = await runInProcess(['check', het, '--json']);
        expect(check.status, check.stdout).toBe(0);
      }),
      { numRuns: 4, seed, endOnFailure: true },
    );
  }, 60_000);
});

describe('a backup tape compressed by hetupd', () => {
  it('restores from the HET file to the source, byte for byte, and verifies', async () => {
    const src = join(dir.path, 'src.ckd');
    await runInProcessOk(['init', src, '--type', '3390', '--cyls', '4', '--volser', 'HETSRC']);
    await runInProcessOk(['fill', src, '--percent', '40', '--seed', '7']);
    const tape = join(dir.path, 'full.aws');
    await runInProcessOk(['backup', src, '--to', tape]);
    for (const flag of ['-z', '-b']) {
      const het = join(dir.path, `full${flag}.het`);
      const upd = runTool('hetupd', [flag, tape, het]);
      expect(upd.status, upd.stdout + upd.stderr).toBe(0);
      const verify = await runInProcess(['verify', het]);
      expect(verify.status, verify.stdout + verify.stderr).toBe(0);
      const out = join(dir.path, `restored${flag}.ckd`);
      await runInProcessOk(['restore', het, '--to', out, '--new-volume']);
      expect(sha256File(out)).toBe(sha256File(src));
    }
  }, 60_000);
});
