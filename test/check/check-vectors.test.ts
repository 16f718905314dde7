/**
 * Layer: golden vectors. Every Hercules-made image and tape in reference/vectors checks clean with
 * `snaptape check`, says what it found, and is not written (bytes and mtime unchanged); a path that
 * is none of the known kinds is one typed line and a non-zero exit; subsystems are delegated to the
 * subsystem check, and `snaptape subsystem check` still works.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runSnaptape, runSnaptapeJson, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { VECTORS_DIR, vectorPath } from '../harness/vectors.js';
import { checkJson, fileState } from './check-fixtures.js';

const dir = makeTempDir();
afterAll(() => dir.cleanup());

/** Each vector that is an image or a tape, with the kind and format `check` must find. */
const VECTORS: readonly { name: string; kind: string; format: string; description: RegExp }[] = [
  { name: '01_ckd3390_dasdinit_3cyl.ckd', kind: 'image', format: 'ckd', description: /no VTOC/ },
  { name: '02_ckd3390_dasdload_5cyl.ckd', kind: 'image', format: 'ckd', description: /VTOC at CC=0 HH=8, 3 tracks, 3 data sets/ },
  { name: '03_cckd3390_dasdinit_z_3cyl.cckd', kind: 'image', format: 'cckd', description: /compressed CCKD/ },
  { name: '04_fba3370_dasdinit_200blk.fba', kind: 'image', format: 'fba', description: /200 blocks/ },
  { name: '05_tape_sl_hetinit.aws', kind: 'tape', format: 'aws', description: /SL, volser TAPE01/ },
  { name: '06_tape_nl_hetinit.aws', kind: 'tape', format: 'aws', description: /NL.*0 data sets/ },
  { name: '07_tape_sl_1file.aws', kind: 'tape', format: 'aws', description: /SL.*1 data sets/ },
  { name: '08_tape_nl_bigblocks.aws', kind: 'tape', format: 'aws', description: /NL.*2 data sets/ },
  { name: '08_tape_nl_bigblocks_chunk4096.aws', kind: 'tape', format: 'aws', description: /NL.*2 data sets/ },
  { name: '09_tape_sl_1file.zlib.het', kind: 'tape', format: 'het', description: /HET tape \(SL/ },
  { name: '09_tape_sl_1file.bz2.het', kind: 'tape', format: 'het', description: /HET tape \(SL/ },
  { name: '10_ckd3390_split_1.ckd', kind: 'image', format: 'multi-file-ckd', description: /multi-file.*2 data sets/ },
];

describe('snaptape check on the Hercules vectors', () => {
  it('covers every image and tape vector there is', () => {
    const shipped = readdirSync(VECTORS_DIR)
      .map((n) => n.replace(/\.gz$/, ''))
      .filter((n) => /\.(ckd|cckd|fba|aws|het)$/.test(n) && !n.startsWith('10_ckd3390_split_2'));
    expect(shipped.sort()).toEqual(VECTORS.map((v) => v.name).sort());
  });

  for (const v of VECTORS) {
    it(`${v.name} checks clean as ${v.kind} ${v.format}, and is not written`, () => {
      const path = vectorPath(v.name, dir.path);
      if (v.name.startsWith('10_')) vectorPath('10_ckd3390_split_2.ckd', dir.path);
      const before = fileState(path);
      const { status, report } = checkJson(path);
      expect(report).toMatchObject({ kind: v.kind, format: v.format, problems: [], remaining: [], repaired: [], clean: true });
      expect(report.description).toMatch(v.description);
      expect(status).toBe(0);
      expect(fileState(path)).toEqual(before);
    });
  }

  it('--repair on a clean vector changes nothing', () => {
    for (const name of ['02_ckd3390_dasdload_5cyl.ckd', '07_tape_sl_1file.aws']) {
      const path = vectorPath(name, dir.path);
      const before = fileState(path);
      expect(checkJson(path, { repair: true }).report).toMatchObject({ repaired: [], clean: true });
      expect(fileState(path).sha256).toBe(before.sha256);
    }
  });

  it('the text report names what it found and says clean', () => {
    const out = runSnaptapeOk(['check', vectorPath('07_tape_sl_1file.aws', dir.path)]);
    expect(out).toMatch(/an AWSTAPE tape \(SL, volser TAPE01\): 8 blocks, 4 tapemarks, 1 data sets, 2472 bytes/);
    expect(out.trim().split('\n').pop()).toBe('clean');
  });
});

describe('paths that are not an image, a tape or a subsystem', () => {
  it('a file of random bytes is one typed line (IMAGE_FORMAT) and is not written', () => {
    const path = join(dir.path, 'random.bin');
    // Fixed bytes (a PRNG's), so the test is the same every run.
    const bytes = Buffer.alloc(64 * 1024);
    let x = 0x2545f491;
    for (let i = 0; i < bytes.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      bytes[i] = x & 0xff;
    }
    writeFileSync(path, bytes);
    const before = fileState(path);
    const r = runSnaptape(['check', path]);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.IMAGE_FORMAT);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^snaptape: Cannot check .*random\.bin: it is not a CKD, CCKD or FBA image, an AWSTAPE or HET tape, nor a subsystem folder \(first bytes [0-9a-f ]+\)/,
    );
    expect(fileState(path)).toEqual(before);
    const json = runSnaptape(['check', path, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'IMAGE_FORMAT' } });
  });

  it('an empty file, a plain folder and a second file of a multi-file volume are typed errors', () => {
    const empty = join(dir.path, 'empty.aws');
    writeFileSync(empty, '');
    expect(runSnaptape(['check', empty])).toMatchObject({ status: EXIT_STATUS_BY_CODE.IMAGE_FORMAT, stderr: expect.stringMatching(/the file is empty/) });
    expect(runSnaptape(['check', dir.path])).toMatchObject({
      status: EXIT_STATUS_BY_CODE.IMAGE_FORMAT,
      stderr: expect.stringMatching(/a folder but not a subsystem/),
    });
    const second = vectorPath('10_ckd3390_split_2.ckd', dir.path);
    expect(runSnaptape(['check', second])).toMatchObject({
      status: EXIT_STATUS_BY_CODE.IMAGE_FORMAT,
      stderr: expect.stringMatching(/file 2 of a multi-file volume; check the set by its first file/),
    });
  });
});

describe('subsystems', () => {
  it('check <folder> and check <mapped volume> delegate to the subsystem check; subsystem check still works', () => {
    const sub = join(dir.path, 'sub');
    runSnaptapeOk(['subsystem', 'init', sub, '--type', '3390']);
    runSnaptapeOk(['init', join(sub, 'PROD'), '--mapped', '--type', '3390', '--cyls', '3', '--volser', 'PROD01']);
    const folder = checkJson(sub);
    expect(folder.report).toMatchObject({ kind: 'subsystem', format: 'subsystem', problems: [], clean: true });
    expect(folder.report.description).toMatch(/1 volumes \(PROD\)/);
    expect(checkJson(join(sub, 'PROD')).report).toMatchObject({ kind: 'subsystem', clean: true });
    expect(runSnaptapeJson<{ clean: boolean }>(['subsystem', 'check', sub]).clean).toBe(true);
  });

  it('a pool left open with a count too low for a shared slot: kinds pool-open and double-used-slots with the slot; --repair rebuilds the counts', () => {
    const sub = join(dir.path, 'shared');
    runSnaptapeOk(['subsystem', 'init', sub, '--type', '3390']);
    runSnaptapeOk(['init', join(sub, 'SRC'), '--mapped', '--type', '3390', '--cyls', '3', '--volser', 'SRC001']);
    runSnaptapeOk(['snapshot', join(sub, 'SRC'), join(sub, 'SNAP'), '--volser', 'SNAP01']);
    // pool.refs: a 32-byte header (state u32le at 16), then one u32le count per slot.
    const refsPath = join(sub, 'pool.refs');
    const refs = readFileSync(refsPath);
    let shared = -1;
    for (let s = 0; 32 + 4 * s < refs.length; s++)
      if (refs.readUInt32LE(32 + 4 * s) === 2) {
        shared = s;
        break;
      }
    expect(shared).toBeGreaterThanOrEqual(0);
    refs.writeUInt32LE(1, 32 + 4 * shared);
    refs.writeUInt32LE(1, 16);
    writeFileSync(refsPath, refs);
    const before = fileState(refsPath);
    const { status, report } = checkJson(sub);
    expect(fileState(refsPath).sha256).toBe(before.sha256);
    expect(status).toBe(EXIT_STATUS_BY_CODE.VERIFY);
    expect(report.problems.map((p) => p.kind)).toEqual(['pool-open', 'double-used-slots']);
    expect(report.problems[1]?.location.slot).toBe(shared);
    const repaired = checkJson(sub, { repair: true });
    expect(repaired).toMatchObject({ status: 0, report: { clean: true, remaining: [] } });
    expect(repaired.report.repaired[0]).toMatch(/rebuilt the reference counts/);
    expect(runSnaptapeJson<{ clean: boolean }>(['subsystem', 'check', sub]).clean).toBe(true);
  });
});
