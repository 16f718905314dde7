/**
 * Layer: scenario (issue 22 review). A backup's checkpoint writes its record to
 * `<tape>.session.json.async.tmp` off the owning thread before renaming it: a process killed then
 * leaves that temp file. The next backup of the tape, new or resumed, removes it under the tape's
 * lock (no checkpoint of the tape is in flight then), and works as if it was not there.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { readSessionRecord } from '../../src/techniques/tape-backup/session-record.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-checkpoint-leftover-');
afterAll(() => temp.cleanup());

describe("a killed checkpoint's temp file", () => {
  it('is removed by the resume, and by a new backup of the same tape', async () => {
    makeFilledVolume(temp.path, { cylinders: 4, seed: 22, percent: 100, name: 'src.ckd' }).close();
    const volume = openVolume(join(temp.path, 'src.ckd'));
    const tape = join(temp.path, 'left.aws');
    const leftover = `${tape}.session.json.async.tmp`;
    try {
      const first = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 1 });
      first.cancel();
      await expect(first.done).rejects.toThrow(/cancelled/);
      // A checkpoint was being written when its process was killed.
      writeFileSync(leftover, '{"kind":"tape-backup","status":"runn');
      const resumed = TapeBackupSession.resume(volume, { tapePath: tape, workers: 1 });
      await resumed.done;
      expect(readSessionRecord(tape)?.status).toBe('completed');
      expect(existsSync(leftover), 'the leftover after the resume').toBe(false);
      writeFileSync(leftover, '{"kind":"tape-backup","status":"runn');
      const again = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, force: true });
      await again.done;
      expect(existsSync(leftover), 'the leftover after a new backup').toBe(false);
    } finally {
      volume.close();
    }
  }, 60_000);
});
