/**
 * Interrupted backups (issue 4, item 5): a cancelled backup is persisted (record + bitmap + layout),
 * reported as incomplete, and `resume` finishes it to the same point in time — unless the source
 * was written after it stopped, in which case the point in time is lost and resume refuses.
 */
import { copyFileSync, linkSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/api/volume-api.js';
import { IoError, SessionError, VerifyError } from '../../src/errors/snaptape-error.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { verifyBackupTape } from '../../src/techniques/restore/backup-tape.js';
import { readSessionRecord } from '../../src/techniques/tape-backup/session-record.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => dir.cleanup());

/** Starts a slow backup, lets it copy part of the volume, cancels it; returns the paths. */
async function interruptedBackup(): Promise<{ source: string; reference: string; tape: string }> {
  const volume = makeFilledVolume(dir.path, { cylinders: 40, seed: 7, percent: 90 });
  const reference = join(dir.path, 'reference.ckd');
  const tape = join(dir.path, 't.aws');
  copyFileSync(volume.path, reference);
  const session = TapeBackupSession.start(volume, { tapePath: tape, workers: 1, throttleMbps: 20 });
  // Host writes while it runs: their old tracks go to tape out of order before they change.
  for (let t = 30; t < 60; t++) volume.writeTrackRecords(t, [{ key: Buffer.alloc(0), data: Buffer.alloc(2000, t) }]);
  await new Promise((r) => setTimeout(r, 300));
  session.cancel();
  await expect(session.done).rejects.toThrow(/cancelled/);
  const source = volume.path;
  volume.close();
  return { source, reference, tape };
}

describe('interrupted and resumed backups', () => {
  it('a cancelled backup is reported incomplete, and resume finishes it to the start instant', async () => {
    const { source, reference, tape } = await interruptedBackup();
    const record = readSessionRecord(tape);
    expect(record?.status).toBe('cancelled');
    expect(() => verifyBackupTape(tape)).toThrow(VerifyError);
    expect(() => verifyBackupTape(tape)).toThrow(/incomplete/);
    const bitmap = readFileSync(`${tape}.session.bitmap`);
    expect(bitmap.length).toBe(600 * 4);

    const volume = openVolume(source);
    const resumed = TapeBackupSession.resume(volume, { tapePath: tape, workers: 2 });
    const summary = await resumed.done;
    volume.close();
    expect(summary.copiedInOrder).toBeLessThan(600); // only what was left
    expect(readSessionRecord(tape)?.status).toBe('completed');
    // The digest pass reads every block back from the tape, those the interrupted run copied too:
    // the element's digest covers all 600, as verify recomputes it.
    const report = verifyBackupTape(tape);
    expect(report.ok).toBe(true);
    expect(report.elements[0]?.digest).toBe('BLKSHA256');
    expect(report.elements[0]?.sha256).toBe(summary.elements[0]?.sha256);
    const restored = join(dir.path, 'restored.ckd');
    restoreTape(tape, { to: restored, newVolume: true });
    expect(compareImages(reference, restored).mismatched).toBe(0);
  });

  it.each([
    ['a symbolic link', 'it is a symbolic link', symlinkSync],
    ['a hard link', 'it has 2 links', linkSync],
  ] as const)('refuses to resume through a session bitmap that is %s, and leaves the other file alone', async (_kind, message, link) => {
    const { source, tape } = await interruptedBackup();
    const bitmap = `${tape}.session.bitmap`;
    // The victim holds the bitmap's own bytes: nothing but the link gives it away.
    const victim = join(dir.path, 'victim.bin');
    const bytes = readFileSync(bitmap);
    writeFileSync(victim, bytes);
    unlinkSync(bitmap);
    link(victim, bitmap);
    const volume = openVolume(source);
    try {
      expect(() => TapeBackupSession.resume(volume, { tapePath: tape })).toThrow(IoError);
      expect(() => TapeBackupSession.resume(volume, { tapePath: tape })).toThrow(`${bitmap}: ${message}`);
    } finally {
      volume.close();
    }
    expect(readFileSync(victim).equals(bytes), 'the victim is unchanged').toBe(true);
  });

  it('refuses to resume once the source was written after the interruption', async () => {
    const { source, tape } = await interruptedBackup();
    const volume = openVolume(source);
    try {
      volume.writeTrackRecords(100, [{ key: Buffer.alloc(0), data: Buffer.alloc(100, 1) }]);
      expect(() => TapeBackupSession.resume(volume, { tapePath: tape })).toThrow(SessionError);
      expect(() => TapeBackupSession.resume(volume, { tapePath: tape })).toThrow(/point in time is lost/);
    } finally {
      volume.close();
    }
  });
});
