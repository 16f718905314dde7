/**
 * `snaptape get` as a shell user meets it (issue 18.6): `-` is stdout, a closed pipe ends quietly,
 * and an existing output file is replaced only with `--force`, as `tape get` does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_STATUS_BY_CODE } from '../../src/errors/exit-codes.js';
import { runSnaptape, runSnaptapeOk, SNAPTAPE_BIN } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let image: string;
let payload: Buffer;

beforeAll(() => {
  dir = makeTempDir();
  image = join(dir.path, 'get.ckd');
  runSnaptapeOk(['init', image, '--type', '3390', '--cyls', '10', '--volser', 'GET001']);
  runSnaptapeOk(['alloc', image, 'GET.DATA', '--cyls', '3', '--recfm', 'F', '--lrecl', '4096', '--blksize', '4096']);
  // Large enough that a pipe closed after the first line sees more data written after it.
  payload = Buffer.alloc(2_000_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 12)) & 0xff;
  writeFileSync(join(dir.path, 'payload.bin'), payload);
  runSnaptapeOk(['put', image, 'GET.DATA', join(dir.path, 'payload.bin')]);
});
afterAll(() => dir.cleanup());

describe('snaptape get', () => {
  it('writes to stdout for "-" and makes no file named "-"', () => {
    const result = spawnSync(process.execPath, [SNAPTAPE_BIN, 'get', image, 'GET.DATA', '-'], { cwd: dir.path, maxBuffer: 64 << 20 });
    expect(result.status).toBe(0);
    expect(Buffer.compare(result.stdout.subarray(0, payload.length), payload)).toBe(0);
    expect(existsSync(join(dir.path, '-'))).toBe(false);
  });

  it('ends quietly when the reader closes the pipe (get | head)', () => {
    const result = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${SNAPTAPE_BIN}" get "${image}" GET.DATA | head -c 10 >/dev/null`], {
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    // 141 = 128 + SIGPIPE, as `cat file | head` gives; 0 when it ended before the pipe closed.
    expect([0, 141]).toContain(result.status);
  });

  it('refuses to replace an existing file without --force, and replaces it with', () => {
    const out = join(dir.path, 'existing.bin');
    writeFileSync(out, 'keep me');
    const refused = runSnaptape(['get', image, 'GET.DATA', out]);
    expect(refused.status).toBe(EXIT_STATUS_BY_CODE.TARGET_EXISTS);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/exists.*--force/);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    runSnaptapeOk(['get', image, 'GET.DATA', out, '--force']);
    expect(Buffer.compare(readFileSync(out).subarray(0, payload.length), payload)).toBe(0);
  });
});
