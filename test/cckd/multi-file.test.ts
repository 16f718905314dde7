/**
 * Layer: golden vector and Hercules round trip (issue 11, multi-file volumes). Vector 10 is one
 * 3390 volume split across two CKD files; snaptape reads it from the first file, writes a data set
 * that lives in the second file, and Hercules dasdseq reads back what was written. Damaged sets
 * are refused with typed errors.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../../src/image/open-image.js';
import { multiFilePartPath } from '../../src/image/multi-file-backend.js';
import { sha256File } from '../harness/dasd.js';
import { runTool } from '../harness/external-tools.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { VECTORS_DIR, vectorPath } from '../harness/vectors.js';

let dir: TempDir;
let first: string;
let second: string;
beforeAll(() => {
  dir = makeTempDir();
  first = vectorPath('10_ckd3390_split_1.ckd', dir.path);
  second = vectorPath('10_ckd3390_split_2.ckd', dir.path);
});
afterAll(() => dir.cleanup());

function ok(args: readonly string[]): string {
  const r = runSnaptape(args);
  expect(r.stderr, `snaptape ${args.join(' ')}`).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

describe('multi-file CKD volumes (vector 10)', () => {
  it('names the parts as Hercules does', () => {
    expect(multiFilePartPath('/d/vol_1.3390', 2)).toBe('/d/vol_2.3390');
    expect(multiFilePartPath('/d/vol1', 3)).toBe('/d/vol3');
    expect(multiFilePartPath('/d/v_1.ckd', 10)).toBe('/d/v_A.ckd');
  });

  it("reads SPLIT.TEXT (cylinder 3, in the second file) as the vector's text", () => {
    const out = join(dir.path, 'split.txt');
    ok(['get', first, 'SPLIT.TEXT', out, '--text']);
    const expected = readFileSync(join(VECTORS_DIR, '10_ckd3390_split_text.txt'), 'latin1')
      .split('\n')
      .filter((l) => l.length > 0);
    expect(
      readFileSync(out, 'latin1')
        .split('\n')
        .filter((l) => l.length > 0),
    ).toEqual(expected);
    const image = openImage(first, { readOnly: true });
    expect(image.geometry.kind === 'ckd' && image.geometry.cylinders).toBe(4);
    image.close();
  });

  it('writes a data set in the second file; dasdseq reads it back; the file headers stay as they were', () => {
    const head1 = readFileSync(first).subarray(0, 512);
    const head2 = readFileSync(second).subarray(0, 512);
    const text = Array.from({ length: 30 }, (_, i) => `REWRITTEN BY SNAPTAPE ${String(i).padStart(3, '0')}`).join('\n');
    const host = join(dir.path, 'new.txt');
    writeFileSync(host, `${text}\n`);
    ok(['put', first, 'SPLIT.TEXT', host, '--text']);
    const seq = runTool('dasdseq', ['-ascii', first, 'SPLIT.TEXT'], { cwd: dir.path });
    expect(seq.status, seq.stderr).toBe(0);
    const back = readFileSync(join(dir.path, 'SPLIT.TEXT'), 'latin1')
      .split(/\r?\n/)
      .map((l) => l.trimEnd())
      .filter((l) => l.length > 0);
    expect(back).toEqual(text.split('\n'));
    expect(readFileSync(first).subarray(0, 512).equals(head1)).toBe(true);
    expect(readFileSync(second).subarray(0, 512).equals(head2)).toBe(true);
  });

  it('convert makes one CCKD volume of the set', () => {
    const out = join(dir.path, 'joined.cckd');
    ok(['convert', first, out, '--format', 'cckd']);
    const a = join(dir.path, 'joined.ckd');
    expect(runTool('cckd2ckd', ['-q', out, a], { cwd: dir.path }).status).toBe(0);
    const ls = runTool('dasdls', [a], { cwd: dir.path });
    expect(ls.stdout).toMatch(/SPLIT\.TEXT/);
  });

  it('a damaged set is refused in one typed line, and no file is changed', () => {
    const bad1 = join(dir.path, 'bad_1.ckd');
    const bad2 = join(dir.path, 'bad_2.ckd');
    copyFileSync(first, bad1);
    copyFileSync(second, bad2);
    const patched = readFileSync(bad1);
    patched.writeUInt16LE(5, 18);
    writeFileSync(bad1, patched);
    const before = [sha256File(bad1), sha256File(bad2)];
    const r = runSnaptape(['ls', bad1]);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toEqual([
      `snaptape: Cannot open ${bad2}: high cylinder 5 at offset 18, but files 1-1 hold cylinders 0-1`.replace(bad2, bad1),
    ]);
    const r2 = runSnaptape(['ls', second]);
    expect(r2.stderr).toMatch(/file 2 of a multi-file volume: open the set by its first file/);
    expect([sha256File(bad1), sha256File(bad2)]).toEqual(before);
  });
});
