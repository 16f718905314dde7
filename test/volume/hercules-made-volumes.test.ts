/**
 * Layer: differential interop. Volumes the real Hercules 3.13 tools make at run time, read by
 * snaptape: a compressed FBA image (which snaptape does not open) is refused with a dasdcopy
 * command that works.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VolumeListing } from '../../src/api/volume-api.js';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runTool } from '../harness/external-tools.js';
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
