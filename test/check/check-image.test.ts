/**
 * Layer: named fault scenarios on images other than vector 02: a CCKD file whose space statistics
 * are damaged (vector 03, dasdinit -z) is reported with the header offset and repaired back to the
 * Hercules bytes exactly; a CCKD volume with a VTOC gets the VTOC check too; an uncompressed track
 * that does not decode is reported by track.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';
import { checkJson, copyVector, fileState, patchFile } from './check-fixtures.js';

const dir = makeTempDir();
afterAll(() => dir.cleanup());

/** The compressed device header starts at 512; its free-total field is at +24 (native-layout/cckd-header.md), LE. */
const CCKD_FREE_TOTAL_OFFSET = 512 + 24;

describe('images', () => {
  it('CCKD space statistics that disagree with the tables: kind statistics at the header offset; --repair restores the Hercules bytes', () => {
    const original = vectorPath('03_cckd3390_dasdinit_z_3cyl.cckd', dir.path);
    const path = copyVector('03_cckd3390_dasdinit_z_3cyl.cckd', dir.path, 'stats.cckd');
    patchFile(path, CCKD_FREE_TOTAL_OFFSET, [0x39, 0x30, 0x00, 0x00]);
    const before = fileState(path);
    const { status, report } = checkJson(path);
    expect(fileState(path)).toEqual(before);
    expect(status).toBe(EXIT_STATUS_BY_CODE.VERIFY);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'statistics', location: expect.objectContaining({ offsetBytes: CCKD_FREE_TOTAL_OFFSET }) }),
    ]);
    const repaired = checkJson(path, { repair: true });
    expect(repaired).toMatchObject({ status: 0, report: { clean: true } });
    expect(fileState(path).sha256).toBe(fileState(original).sha256);
  });

  it('a CCKD volume with a VTOC is VTOC-checked like a CKD one', () => {
    const path = join(dir.path, 'vtoc.cckd');
    runSnaptapeOk(['init', path, '--type', '3390', '--cyls', '3', '--volser', 'CCKD01', '--format', 'cckd']);
    runSnaptapeOk(['alloc', path, 'A.B', '--tracks', '5', '--recfm', 'FB', '--lrecl', '80', '--blksize', '800']);
    const { report } = checkJson(path);
    expect(report).toMatchObject({ kind: 'image', format: 'cckd', clean: true });
    expect(report.description).toMatch(/VTOC at CC=0 HH=\d+, 1 tracks, 1 data sets/);
  });

  it('an uncompressed track whose home address names another track: kind track at that track', () => {
    const path = copyVector('01_ckd3390_dasdinit_3cyl.ckd', dir.path, 'ha.ckd');
    patchFile(path, 512 + 20 * 56832 + 1, [0x00, 0x02]);
    const { status, report } = checkJson(path);
    expect(status).toBe(EXIT_STATUS_BY_CODE.VERIFY);
    expect(report.problems.map((p) => [p.kind, p.location.track])).toEqual([['track', 20]]);
    expect(checkJson(path, { repair: true }).report.notRepaired.join('\n')).toMatch(/track: a track image that does not decode is lost data/);
  });
});
