/**
 * Layers: interop + scenario. A full-volume tape made while the host keeps writing is read by the
 * Hercules tools (`hetmap -a`, `tapemap`, `hetget`, `hetupd -d`), verifies with the SHA-256 values
 * of the backup summary, and restores into a new image that is byte-identical (`cmp`) to a reference
 * copied at the start instant (issue 4 acceptance). A data set backup (`--datasets 'PROD.**'`)
 * restores into a new volume whose VTOC `dasdls` lists and whose text `dasdseq -ascii` extracts
 * exactly as `put --text` wrote it; `--dataset NAME` restores one element only.
 *
 * Randomised (the host writes): the seed is printed; replay with SNAPTAPE_SEED=<seed>.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup, type BackupRun } from '../../src/api/backup-api.js';
import { compareImages } from '../../src/api/drill-api.js';
import { Prng } from '../../src/base/prng.js';
import { makeFilledVolume, randomHostWrite } from '../harness/backup-fixtures.js';
import { dasdlsInfo } from '../harness/dasd.js';
import { runTool } from '../harness/external-tools.js';
import { fcSeed } from '../harness/fc-seed.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { blockSha256Of, firstDataSetPayloads, parseHetmapAll } from './backup-test-helpers.js';

let dir: TempDir;
const at = (name: string): string => join(dir.path, name);
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

const ok = (args: string[], cwd?: string): string => {
  const r = runSnaptape(args, { cwd });
  expect(r.status, `snaptape ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

const CYLINDERS = 10;
const TRACKS = CYLINDERS * 15;
/** Host writes made synchronously right after the start instant: they must all be copied out of order first. */
const WRITES_AT_START = 25;

describe('a full-volume backup made under concurrent host writes', () => {
  let run: BackupRun;
  let seed: number;
  const tape = (): string => at('full.aws');
  const reference = (): string => at('reference.ckd');
  const source = (): string => at('source.ckd');

  beforeAll(async () => {
    seed = fcSeed('backup-interop full volume');
    const prng = new Prng(seed);
    const volume = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed, name: 'source.ckd' });
    try {
      const done = runBackup(volume, {
        tapePath: tape(),
        workers: 2,
        // Slows the copy down so that the synthetic load overlaps it for real.
        throttleMbps: 5,
        load: { kind: 'random', ratePerSecond: 2000 },
        loadSeed: seed,
        onStartInstant: () => copyFileSync(volume.path, reference()),
      });
      // The session is registered (runBackup starts it synchronously) and cannot finish before
      // this loop yields: these writes race the workers and must be copied before they land.
      for (let i = 0; i < WRITES_AT_START; i++) randomHostWrite(volume, 2 + prng.below(TRACKS - 2), prng);
      run = await done;
    } finally {
      volume.close();
    }
  }, 60_000);

  it('really raced the host: tracks were copied out of order and the source moved on from the reference', () => {
    console.log(
      `[backup-interop] seed=${seed}: in order ${run.summary.copiedInOrder}, out of order ${run.summary.copiedOutOfOrder}, load writes ${run.load?.writes}`,
    );
    expect(run.summary.copiedOutOfOrder, `seed ${seed}`).toBeGreaterThan(0);
    expect(run.summary.copiedInOrder + run.summary.copiedOutOfOrder).toBe(TRACKS);
    expect(run.load?.writes ?? 0).toBeGreaterThan(0);
    expect(runTool('cmp', ['-s', source(), reference()]).status, 'the host writes changed the source after the start instant').toBe(1);
    expect(run.summary.elements).toHaveLength(1);
    expect(run.summary.elements[0]).toMatchObject({ name: 'FULLVOLUME.SRC001', kind: 'volume', blocks: TRACKS });
  });

  it('hetmap -a lists VOL1, HDR1 with the dsid, HDR2, UHL1-2, EOF1 with the track count, EOF2, UTL1-2, and the data file of that many blocks', () => {
    const r = runTool('hetmap', ['-a', tape()]);
    expect(r.status, r.stderr).toBe(0);
    const { labels, files } = parseHetmapAll(r.stdout);
    expect(labels.map((l) => l.label)).toEqual(['VOL1', 'HDR1', 'HDR2', 'UHL1', 'UHL2', 'EOF1', 'EOF2', 'UTL1', 'UTL2']);
    const hdr1 = labels.find((l) => l.label === 'HDR1');
    const eof1 = labels.find((l) => l.label === 'EOF1');
    expect(hdr1?.fields['Dataset ID']).toBe('FULLVOLUME.SRC001');
    expect(hdr1?.fields['Block Count Low']).toBe('000000');
    expect(eof1?.fields['Dataset ID']).toBe('FULLVOLUME.SRC001');
    expect(Number(eof1?.fields['Block Count Low'])).toBe(TRACKS);
    expect(labels.find((l) => l.label === 'VOL1')?.fields['Volume Serial']).toBe('TSRC00');
    // File 1: HDR1 HDR2 UHL1 UHL2 (and the VOL1); file 2: the tracks; file 3: EOF1 EOF2 UTL1 UTL2.
    const data = files.find((f) => f.fileNumber === 2);
    expect(data?.blocks).toBe(TRACKS);
    expect(data?.uncompressedBytes).toBe(run.summary.bytes);
  });

  it('tapemap lists the labels and the data file with one block per track', () => {
    const r = runTool('tapemap', [tape()]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('HDR1FULLVOLUME.SRC001TSRC00');
    expect(r.stdout).toContain(`EOF1FULLVOLUME.SRC001TSRC0000010001`);
    expect(r.stdout).toMatch(new RegExp(`^File 2: Blocks=${TRACKS}, `, 'm'));
    expect(r.stdout).toContain('End of tape.');
  });

  it("hetupd -d copies the tape byte for byte, and hetget extracts the blocks whose digest is the summary's", () => {
    expect(runTool('hetupd', ['-d', tape(), at('copy.aws')]).status).toBe(0);
    expect(runTool('cmp', [tape(), at('copy.aws')]).status).toBe(0);
    expect(runTool('hetget', [tape(), at('hetget.bin'), '1']).status).toBe(0);
    // hetget's bytes are the payloads of the blocks an independent walk finds, and their BLKSHA256 is the summary's.
    const payloads = firstDataSetPayloads(tape());
    expect(readFileSync(at('hetget.bin')).equals(Buffer.concat(payloads))).toBe(true);
    expect(blockSha256Of(payloads)).toBe(run.summary.elements[0]?.sha256);
  });

  it('restore --new-volume is byte-identical (cmp) to the start-instant reference', () => {
    ok(['restore', tape(), '--to', at('restored.ckd'), '--new-volume']);
    const cmp = runTool('cmp', [reference(), at('restored.ckd')]);
    expect(cmp.status, `seed ${seed}: ${cmp.stdout}${cmp.stderr}`).toBe(0);
    expect(compareImages(reference(), at('restored.ckd')).mismatched).toBe(0);
  });

  it('snaptape verify prints OK with the digest of the summary', () => {
    const out = ok(['verify', tape()]);
    expect(out.split('\n')[0]).toMatch(/: OK$/);
    expect(out).toMatch(/^ {2}ok +FULLVOLUME\.SRC001 /m);
    expect(out).toContain(`blksha256 ${run.summary.elements[0]?.sha256}`);
  });
});

/** Text of `lines` records, each under 80 columns, uppercase so that EBCDIC round trips exactly. */
function makeText(prefix: string, lines: number): string {
  return Array.from({ length: lines }, (_, i) => `${prefix} RECORD ${String(i + 1).padStart(4, '0')} OF ${lines}`).join('\n') + '\n';
}

describe('a data set backup (--datasets PROD.**)', () => {
  const image = (): string => at('ds-source.ckd');
  const tape = (): string => at('ds.aws');
  // PAYROLL spans two tracks (60 blocks of 800 bytes); LEDGER is one track.
  const payroll = makeText('PAYROLL', 600);
  const ledger = makeText('LEDGER', 45);
  const other = makeText('OTHER', 10);
  let summary: { elements: { name: string; kind: string; blocks: number; sha256: string }[] };

  /** Runs dasdseq -ascii in its own directory (it names its output after the data set). */
  const dasdseqText = (img: string, dsname: string, sub: string): string => {
    const cwd = at(sub);
    mkdirSync(cwd, { recursive: true });
    const r = runTool('dasdseq', ['-ascii', img, dsname], { cwd });
    expect(r.stderr + r.stdout).toMatch(new RegExp(`dasdseq wrote \\d+ records to ${dsname.replace(/\./g, '\\.')}`));
    return readFileSync(join(cwd, dsname), 'latin1');
  };

  beforeAll(() => {
    ok(['init', image(), '--type', '3390', '--cyls', String(CYLINDERS), '--volser', 'DSV001']);
    ok(['alloc', image(), 'PROD.PAYROLL.TEXT', '--tracks', '4', '--recfm', 'FB', '--lrecl', '80', '--blksize', '800']);
    ok(['alloc', image(), 'TEST.OTHER.TEXT', '--tracks', '1', '--recfm', 'FB', '--lrecl', '80', '--blksize', '800']);
    ok(['alloc', image(), 'PROD.LEDGER.TEXT', '--tracks', '2', '--recfm', 'FB', '--lrecl', '80', '--blksize', '3200']);
    for (const [name, text] of [
      ['PROD.PAYROLL.TEXT', payroll],
      ['PROD.LEDGER.TEXT', ledger],
      ['TEST.OTHER.TEXT', other],
    ] as const) {
      writeFileSync(at(`${name}.txt`), text);
      ok(['put', image(), name, at(`${name}.txt`), '--text']);
    }
    ok(['fill', image(), '--percent', '50']);
    // The put text is what dasdseq reads from the source itself: the baseline of the comparison.
    expect(dasdseqText(image(), 'PROD.PAYROLL.TEXT', 'seq-source')).toBe(payroll);
    const out = ok(['backup', image(), '--to', tape(), '--datasets', 'PROD.**', '--load', 'random:2000', '--json']);
    summary = JSON.parse(out).summary;
  }, 60_000);

  it('backs up exactly the PROD data sets, one element each, in VTOC order', () => {
    expect(summary.elements.map((e) => e.name).sort()).toEqual(['PROD.LEDGER.TEXT', 'PROD.PAYROLL.TEXT']);
    expect(summary.elements.every((e) => e.kind === 'dataset')).toBe(true);
    expect(summary.elements.find((e) => e.name === 'PROD.PAYROLL.TEXT')?.blocks).toBe(4);
    expect(summary.elements.find((e) => e.name === 'PROD.LEDGER.TEXT')?.blocks).toBe(2);
    const r = runTool('hetmap', ['-a', tape()]);
    expect(r.status).toBe(0);
    // HDR1 holds (the last 17 characters of) each name; both fit.
    expect(
      parseHetmapAll(r.stdout)
        .labels.filter((l) => l.label === 'HDR1')
        .map((l) => (l.fields['Dataset ID'] ?? '').trimEnd())
        .sort(),
    ).toEqual(['PROD.LEDGER.TEXT', 'PROD.PAYROLL.TEXT']);
  });

  it('restore --new-volume makes a volume that dasdls lists with the data sets, and dasdseq -ascii reads the put text', () => {
    ok(['restore', tape(), '--to', at('ds-restored.ckd'), '--new-volume']);
    const listing = dasdlsInfo(at('ds-restored.ckd'));
    expect(listing.problems).toEqual([]);
    expect(listing.volser).toBe('DSV001');
    expect(listing.rows.map((r) => r.name).sort()).toEqual(['PROD.LEDGER.TEXT', 'PROD.PAYROLL.TEXT']);
    const row = listing.rows.find((r) => r.name === 'PROD.PAYROLL.TEXT');
    expect(row).toMatchObject({ org: 'PS', recfm: 'FB', lrecl: 80, blksize: 800, tracks: 4 });
    expect(dasdseqText(at('ds-restored.ckd'), 'PROD.PAYROLL.TEXT', 'seq-restored')).toBe(payroll);
    expect(dasdseqText(at('ds-restored.ckd'), 'PROD.LEDGER.TEXT', 'seq-restored')).toBe(ledger);
  });

  it('restore --dataset NAME --new-volume restores that element only', () => {
    const out = ok(['restore', tape(), '--to', at('one.ckd'), '--new-volume', '--dataset', 'PROD.LEDGER.TEXT', '--json']);
    expect(JSON.parse(out).elements.map((e: { name: string }) => e.name)).toEqual(['PROD.LEDGER.TEXT']);
    const listing = dasdlsInfo(at('one.ckd'));
    expect(listing.problems).toEqual([]);
    expect(listing.rows.map((r) => r.name)).toEqual(['PROD.LEDGER.TEXT']);
    expect(dasdseqText(at('one.ckd'), 'PROD.LEDGER.TEXT', 'seq-one')).toBe(ledger);
  });

  it('restore --dataset NAME in place puts back that data set and leaves the other one as the host changed it', () => {
    // The host rewrites both data sets after the backup (same record counts, so the DSCBs agree).
    const payroll2 = payroll.replace(/PAYROLL/g, 'PAYROL2');
    const ledger2 = ledger.replace(/LEDGER/g, 'LEDGR2');
    writeFileSync(at('payroll2.txt'), payroll2);
    writeFileSync(at('ledger2.txt'), ledger2);
    ok(['put', image(), 'PROD.PAYROLL.TEXT', at('payroll2.txt'), '--text']);
    ok(['put', image(), 'PROD.LEDGER.TEXT', at('ledger2.txt'), '--text']);
    // A data set of the same name is there: putting it back is a replace (issue 18.1).
    ok(['restore', tape(), '--to', image(), '--dataset', 'PROD.PAYROLL.TEXT', '--replace']);
    expect(ok(['get', image(), 'PROD.PAYROLL.TEXT', '--text'])).toBe(payroll);
    expect(ok(['get', image(), 'PROD.LEDGER.TEXT', '--text'])).toBe(ledger2);
  });
});
