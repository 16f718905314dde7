/**
 * Layers: CLI (`snaptape info`). Each format is described from its bytes: CKD, CCKD with its
 * compression, FBA, a multi-file volume, a mapped volume, AWSTAPE and HET tapes; with the geometry,
 * the allocated bytes as `du` counts them, the checkpoints and side files a backup leaves, and a
 * clear IMAGE_FORMAT error for a file that is none of them. Nothing is written.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PathInfo } from '../../src/api/index.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { sha256File } from '../harness/dasd.js';
import { runInProcess } from '../harness/run-cli-in-process.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { vectorPath, VECTORS_DIR } from '../harness/vectors.js';

let dir: TempDir;
const d = (name: string): string => join(dir.path, name);
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

async function ok(args: string[]): Promise<void> {
  const r = await runInProcess(args);
  expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
}

async function info(path: string): Promise<PathInfo> {
  const r = await runInProcess(['info', path, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as PathInfo;
}

/** Bytes the host allocated for the file, as du counts them. */
function duBytes(path: string): number {
  return Number(execFileSync('du', ['-B1', path], { encoding: 'utf8' }).split('\t')[0]);
}

describe('snaptape info', () => {
  it('a CKD image: 3390 geometry, volser, virtual size, allocated bytes as du counts them; nothing written', async () => {
    await ok(['init', d('a.ckd'), '--type', '3390', '--cyls', '3', '--volser', 'VOLA']);
    const before = sha256File(d('a.ckd'));
    const i = await info(d('a.ckd'));
    expect(i).toMatchObject({ kind: 'image', format: 'ckd', compression: null, deviceType: '3390', volser: 'VOLA', unit: 'track', units: 45 });
    expect(i.kind === 'image' && i.geometry).toEqual({ cylinders: 3, heads: 15, tracks: 45 });
    expect(i.kind === 'image' && i.virtualBytes).toBe(45 * 56832);
    expect(i.allocatedBytes).toBe(duBytes(d('a.ckd')));
    expect(i.allocatedBytes).toBeLessThan(i.fileBytes); // sparse
    expect(sha256File(d('a.ckd'))).toBe(before);
    const text = await runInProcess(['info', d('a.ckd')]);
    expect(text.stdout).toContain('geometry: 3 cylinders × 15 heads = 45 tracks');
  });

  it('CCKD images name their compression (zlib from Hercules, bzip2 and none from init)', async () => {
    expect(await info(join(VECTORS_DIR, '03_cckd3390_dasdinit_z_3cyl.cckd'))).toMatchObject({ format: 'cckd', compression: 'zlib', deviceType: '3390' });
    await ok(['init', d('b.cckd'), '--type', '3390', '--cyls', '2', '--volser', 'VOLB', '--format', 'cckd', '--compress', 'none']);
    expect(await info(d('b.cckd'))).toMatchObject({ format: 'cckd', compression: 'none', volser: 'VOLB' });
  });

  it('an FBA image, a multi-file volume and a mapped volume', async () => {
    const fba = await info(vectorPath('04_fba3370_dasdinit_200blk.fba', dir.path));
    expect(fba).toMatchObject({ format: 'fba', unit: 'block', units: 200, geometry: { blocks: 200 } });
    const first = vectorPath('10_ckd3390_split_1.ckd', dir.path);
    const second = vectorPath('10_ckd3390_split_2.ckd', dir.path);
    const multi = await info(first);
    expect(multi).toMatchObject({ format: 'multi-file-ckd', files: [first, second], geometry: { cylinders: 4 } });
    await ok(['subsystem', 'init', d('sub'), '--type', '3390']);
    await ok(['init', join(d('sub'), 'm1'), '--type', '3390', '--cyls', '2', '--volser', 'M1', '--mapped']);
    expect(await info(join(d('sub'), 'm1'))).toMatchObject({ format: 'mapped', volser: 'M1', units: 30 });
    const refused = await runInProcess(['info', d('sub')]);
    expect(refused.status).toBe(EXIT_STATUS_BY_CODE.IMAGE_FORMAT);
  });

  it('a backup tape: volser, files, blocks, the label digest, its checkpoint and side files', async () => {
    await ok(['alloc', d('a.ckd'), 'SOME.DATA', '--tracks', '2']);
    await ok(['backup', d('a.ckd'), '--to', d('a.aws')]);
    const t = await info(d('a.aws'));
    expect(t).toMatchObject({ kind: 'tape', format: 'awstape', labelled: true, volser: 'TVOLA' });
    if (t.kind !== 'tape') throw new Error('not a tape');
    expect(t.files).toBeGreaterThan(2);
    expect(t.blocks).toBeGreaterThan(0);
    expect(t.labelDigest.of).toBeGreaterThan(0);
    expect(t.labelDigest.dataSets).toBe(t.labelDigest.of);
    expect(t.checkpoints).toEqual([expect.objectContaining({ kind: 'tape-backup', status: 'completed', resumable: false })]);
    expect(t.sideFiles.map((s) => s.kind)).toEqual(expect.arrayContaining(['.map.json', '.session.json']));
    const image = await info(d('a.ckd'));
    expect(image.sideFiles.map((s) => s.kind)).toContain('.sizes');
  });

  it('Hercules tapes: AWSTAPE without label digest, HET by its compressed blocks', async () => {
    const aws = await info(join(VECTORS_DIR, '07_tape_sl_1file.aws'));
    expect(aws).toMatchObject({ format: 'awstape', labelled: true, labelDigest: { dataSets: 0, of: 1 } });
    const het = await info(join(VECTORS_DIR, '09_tape_sl_1file.zlib.het'));
    expect(het).toMatchObject({ format: 'het', dataSets: 1 });
    if (het.kind === 'tape' && aws.kind === 'tape') expect(het.bytes).toBe(aws.bytes);
  });

  it('a file that is neither an image nor a tape is one IMAGE_FORMAT line', async () => {
    writeFileSync(d('junk.bin'), 'not a volume at all\n'.repeat(100));
    const r = await runInProcess(['info', d('junk.bin')]);
    expect(r.status).toBe(EXIT_STATUS_BY_CODE.IMAGE_FORMAT);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(d('junk.bin'));
    // The line names the command the user ran, not the check that shares its detection.
    expect(r.stderr).toContain(`Cannot describe ${d('junk.bin')}: it is not a CKD, CCKD or FBA image`);
  });
});
