/**
 * A synthetic load never destroys the real source by surprise (issue 18.2): `backup --load` writes
 * into a scratch copy, as `drill` does, unless `--load-in-place` says otherwise. And a scratch copy
 * carries its source's size table, so a drill of a volume that snaptape closed needs no rescan
 * (issue 18.8: every drill printed "size table rebuilt").
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSnaptape, runSnaptapeOk } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.cleanup());

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function filledVolume(name: string): string {
  const image = join(dir.path, name);
  runSnaptapeOk(['init', image, '--type', '3390', '--cyls', '30', '--volser', 'LOD001']);
  runSnaptapeOk(['fill', image, '--seed', '5', '--percent', '60']);
  return image;
}

describe('backup --load', () => {
  it('writes into a scratch copy: the source is unchanged and the tape verifies', () => {
    const image = filledVolume('scratch.ckd');
    const before = sha256Of(image);
    const tape = join(dir.path, 'scratch.aws');
    const out = runSnaptapeOk(['backup', image, '--to', tape, '--load', 'random:2000']);
    expect(out).toMatch(/scratch copy/);
    expect(sha256Of(image)).toBe(before);
    runSnaptapeOk(['verify', tape]);
  });

  it('--load-in-place writes into the real source, as it says', () => {
    const image = filledVolume('inplace.ckd');
    const before = sha256Of(image);
    runSnaptapeOk(['backup', image, '--to', join(dir.path, 'inplace.aws'), '--load', 'random:2000', '--load-in-place']);
    expect(sha256Of(image)).not.toBe(before);
  });

  it('refuses --resume with a scratch-copy load (the scratch copy is gone)', () => {
    const image = filledVolume('resume.ckd');
    const result = runSnaptape(['backup', image, '--to', join(dir.path, 'resume.aws'), '--load', 'random:100', '--resume']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--load-in-place/);
  });
});

describe('drill', () => {
  it('keeps the size table in its scratch copy: no rebuild notice, source unchanged', () => {
    const image = filledVolume('drill.ckd');
    expect(existsSync(`${image}.sizes`)).toBe(true);
    const before = sha256Of(image);
    const out = runSnaptapeOk(['drill', image, '--load', 'random:500']);
    expect(out).toMatch(/Drill PASSED/);
    expect(out).not.toMatch(/size table rebuilt/);
    expect(sha256Of(image)).toBe(before);
  });
});
