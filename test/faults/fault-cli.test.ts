/**
 * `--inject` through the real CLI (dist/): an injected read EIO during a plain `put` is one typed
 * line and the IO exit status; a bad spec is a usage error; `backup --inject-tape` under host load
 * fails the backup (break-backup) with one typed line, and `--inject` faults the source volume.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSessionRecord } from '../../src/techniques/tape-backup/session-record.js';
import { expectCliFailure } from '../backup/backup-test-helpers.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { runSnaptape } from '../harness/run-cli.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let image: string;
const at = (name: string): string => join(dir.path, name);

beforeEach(() => {
  dir = makeTempDir();
  const volume = makeFilledVolume(dir.path, { cylinders: 10, seed: 3 });
  image = volume.path;
  volume.close();
  writeFileSync(at('host.txt'), 'HELLO\nWORLD\n');
});
afterEach(() => dir.cleanup());

describe('--inject on the CLI', () => {
  it('put: a read EIO is one "Cannot" line and the IO exit status', () => {
    const r = runSnaptape(['put', image, 'PROD.PAYROLL.DATA', at('host.txt'), '--text', '--inject', 'read:1:EIO']);
    expectCliFailure(r, 'IO', ['EIO', 'source.ckd']);
    // Without the fault the same put succeeds.
    expect(runSnaptape(['put', image, 'PROD.PAYROLL.DATA', at('host.txt'), '--text']).status).toBe(0);
  });

  it('put: a write ENOSPC is a NO_SPACE failure', () => {
    const r = runSnaptape(['put', image, 'PROD.PAYROLL.DATA', at('host.txt'), '--text', '--inject', 'write:1:ENOSPC']);
    expectCliFailure(r, 'NO_SPACE', ['no space']);
  });

  it('a malformed spec is a usage error naming the option', () => {
    expectCliFailure(runSnaptape(['backup', image, '--to', at('t.aws'), '--inject', 'write:zero:EIO']), 'USAGE', ['--inject']);
    expectCliFailure(runSnaptape(['backup', image, '--to', at('t.aws'), '--inject-tape', 'latency:write:5s']), 'USAGE', ['--inject-tape']);
  });

  it('backup --inject: a source read fault fails the backup with one typed line', () => {
    const r = runSnaptape(['backup', image, '--to', at('t.aws'), '--inject', 'read:unit=100:EIO']);
    expectCliFailure(r, 'IO', ['EIO']);
  });

  it('backup --inject-tape under host load: break-backup fails the backup, the record says failed', () => {
    const tape = at('t.aws');
    const r = runSnaptape(['backup', image, '--to', tape, '--load', 'random:2000', '--throttle-mbps', '2', '--inject-tape', 'write:1:EIO']);
    expectCliFailure(r, 'IO', ['EIO', 't.aws']);
    expect(readSessionRecord(tape)?.status).toBe('failed');
    // Issue 18.8: the readers of the interrupted tape say what verify says, not a raw chunk error.
    const incomplete = ['its backup is incomplete', 'session failed', 't.aws'];
    expectCliFailure(runSnaptape(['verify', tape]), 'VERIFY', incomplete);
    expectCliFailure(runSnaptape(['tape', 'ls', tape]), 'VERIFY', incomplete);
    expectCliFailure(runSnaptape(['tape', 'get', tape, '1', at('out.bin')]), 'VERIFY', incomplete);
    expect(existsSync(at('out.bin'))).toBe(false);
  });
});
