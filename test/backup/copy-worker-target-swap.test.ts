/**
 * Layer: unit + scenario, hostile local user. A backup's copy workers write the tape on their own
 * descriptors, each opened by the tape's name (engine/unit-ports.ts FileUnitSink). Whoever can write
 * the folder may put a link at that name after the tape was made and checked, before the workers
 * open it (here: as the copy starts): a worker must write only the file the backup made, never the
 * one the link names. Refused with a typed error naming the tape; the other file keeps its bytes.
 */
import { readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SnaptapeError } from '../../src/errors/snaptape-error.js';
import { newBlockDigestPass } from '../../src/techniques/tape-backup/block-digest-pass.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** What the hostile user does as the copy starts (the digest pass is made just before it): set per test. */
const asCopyStarts = { plant: (): void => undefined };

vi.mock('../../src/techniques/tape-backup/block-digest-pass.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/techniques/tape-backup/block-digest-pass.js')>();
  return {
    ...actual,
    newBlockDigestPass: vi.fn((...args: Parameters<typeof actual.newBlockDigestPass>) => {
      asCopyStarts.plant();
      asCopyStarts.plant = () => undefined;
      return actual.newBlockDigestPass(...args);
    }),
  };
});

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir('snaptape-worker-target-swap-');
});
afterAll(() => dir.cleanup());

describe("a backup's copy workers write only the tape it made", () => {
  it("a symbolic link put at the tape's name as the copy starts is refused, and the file it names keeps its bytes", async () => {
    const volume = makeFilledVolume(dir.path, { cylinders: 2, seed: 15, percent: 100, name: 'src.ckd' });
    const tape = join(dir.path, 'swap.aws');
    const victim = join(dir.path, 'victim.bin');
    const bytes = Buffer.alloc(64 * 1024, 0x5a);
    writeFileSync(victim, bytes);
    asCopyStarts.plant = () => {
      symlinkSync(victim, `${tape}.planted`);
      renameSync(`${tape}.planted`, tape);
    };
    try {
      const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 2 });
      const outcome = await session.done.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(vi.mocked(newBlockDigestPass)).toHaveBeenCalled();
      expect(outcome).toBeInstanceOf(SnaptapeError);
      expect((outcome as Error).message).toContain(tape);
      expect(readFileSync(victim).equals(bytes), 'the file the link names is not written').toBe(true);
    } finally {
      volume.close();
    }
  }, 60_000);
});
