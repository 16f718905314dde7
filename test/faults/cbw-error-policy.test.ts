/**
 * The copy-before-write error policy (issue 10, item 2), each with an injected fault on the tape
 * write of a copy-before-write copy (`tapeFaults`), showing what happens to the host write and to
 * the backup:
 * - break-backup: the host write lands, the backup fails with the fault's typed error, the session
 *   record says failed, and the tape does not verify;
 * - break-host-write: the host write throws the typed error and leaves the track as it was, the
 *   backup completes, and its restore equals the start instant.
 * Both latch on the first failure. `cbwTimeoutMs` is checked by holding a slot CLAIMED from the test.
 *
 * The faulted track is the last one, in the third copy task of a pool of two workers, so a host
 * write made in the same synchronous stretch as `start` finds it PENDING and makes the copy itself.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { UNIT_STATE } from '../../src/engine/track-state.js';
import { IoError, NoSpaceError, SessionError, SnaptapeError } from '../../src/errors/snaptape-error.js';
import { parseFaultPlan } from '../../src/image/fault-plan.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { verifyBackupTape } from '../../src/techniques/restore/backup-tape.js';
import { readSessionRecord } from '../../src/techniques/tape-backup/session-record.js';
import { TapeBackupSession, type CbwErrorPolicy } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { FaultyBackend } from '../../src/image/faulty-backend.js';
import { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let pool: CopyPool;
let dir: TempDir;
let volume: Volume;
let last: number;

beforeAll(() => {
  pool = new CopyPool(2);
});
afterAll(async () => {
  await pool.close();
});
beforeEach(() => {
  dir = makeTempDir();
  volume = makeFilledVolume(dir.path, { cylinders: 20, seed: 7 });
  last = volume.ckd.trackCount - 1;
});
afterEach(() => {
  volume.close();
  dir.cleanup();
});

const at = (name: string): string => join(dir.path, name);
const NEW_DATA = Buffer.alloc(200, 0xc1);

/** Reference copy and start in one synchronous stretch: the start instant. */
function startWithTapeFaults(policy: CbwErrorPolicy, spec: string, extra: { cbwTimeoutMs?: number } = {}): TapeBackupSession {
  copyFileSync(volume.path, at('reference.ckd'));
  return TapeBackupSession.start(volume, {
    tapePath: at('backup.aws'),
    pool,
    pauseAfter: 1,
    pauseMs: 10,
    onCbwError: policy,
    tapeFaults: parseFaultPlan(spec, '--inject-tape'),
    ...extra,
  });
}

const hostWrite = (track: number): void => volume.writeTrackRecords(track, [{ key: Buffer.alloc(0), data: NEW_DATA }]);
const slotOf = (track: number): Buffer => volume.backend.readUnit(track, volume.backend.slotBytes);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the backup to fail');
    },
    (error: unknown) => error,
  );
}

/** A restore of the tape, compared with the reference copy of the start instant. */
function restoreMismatches(): number {
  volume.close();
  restoreTape(at('backup.aws'), { to: at('restored.ckd'), newVolume: true });
  return compareImages(at('reference.ckd'), at('restored.ckd')).mismatched;
}

function expectTapeRefused(): void {
  let report: ReturnType<typeof verifyBackupTape> | undefined;
  let refused: unknown;
  try {
    report = verifyBackupTape(at('backup.aws'));
  } catch (error) {
    refused = error;
  }
  if (report) expect(report.ok, 'a failed backup tape must not verify').toBe(false);
  else expect(refused).toBeInstanceOf(SnaptapeError);
}

describe('on-cbw-error break-backup (default)', () => {
  it('lets the host write land and fails the backup with the tape fault', async () => {
    const session = startWithTapeFaults('break-backup', `write:unit=${last}:EIO`);
    hostWrite(last);
    expect(volume.readTrack(last).records[0]?.data.equals(NEW_DATA)).toBe(true);
    const error = await rejection(session.done);
    expect(error).toBeInstanceOf(IoError);
    expect((error as IoError).message).toMatch(/^Cannot write unit \d+: .*backup\.aws: EIO/);
    expect(session.state).toBe('failed');
    expect(session.cbwError).toMatchObject({ policy: 'break-backup', count: 1 });
    const record = readSessionRecord(at('backup.aws'));
    expect(record?.status).toBe('failed');
    expect(record?.reason).toContain('EIO');
    expectTapeRefused();
  });

  it('latches on the first failure: a second failing copy changes nothing, its write lands too', async () => {
    const session = startWithTapeFaults('break-backup', `write:unit=${last}:EIO,write:unit=${last - 1}:ENOSPC`);
    hostWrite(last);
    hostWrite(last - 1);
    expect(volume.readTrack(last - 1).records[0]?.data.equals(NEW_DATA)).toBe(true);
    const error = await rejection(session.done);
    expect(error).toBeInstanceOf(IoError);
    expect(error).not.toBeInstanceOf(NoSpaceError);
    expect(session.cbwError?.reason).toContain('EIO');
    expect(readSessionRecord(at('backup.aws'))?.reason).toContain('EIO');
  });
});

describe('on-cbw-error break-host-write', () => {
  it('refuses the host write with the typed error, keeps the track, and completes the point in time', async () => {
    const session = startWithTapeFaults('break-host-write', `write:unit=${last}:EIO`);
    const before = slotOf(last);
    expect(() => hostWrite(last)).toThrow(IoError);
    expect(slotOf(last).equals(before), 'the volume keeps the old bytes of the track').toBe(true);
    hostWrite(last - 1); // an unfaulted copy-before-write still works
    expect(session.progress().cbwError).toMatchObject({ policy: 'break-host-write', count: 1 });
    const summary = await session.done;
    expect(session.state).toBe('completed');
    expect(summary.cbwError).toMatchObject({ policy: 'break-host-write', count: 1 });
    expect(readSessionRecord(at('backup.aws'))?.status).toBe('completed');
    expect(verifyBackupTape(at('backup.aws')).ok).toBe(true);
    expect(restoreMismatches()).toBe(0);
  });

  it('latches on the first failure: a second failing copy also refuses its write, the backup still completes', async () => {
    const session = startWithTapeFaults('break-host-write', `write:unit=${last}:EIO,write:unit=${last - 1}:ENOSPC`);
    expect(() => hostWrite(last)).toThrow(IoError);
    expect(() => hostWrite(last - 1)).toThrow(NoSpaceError);
    expect(() => hostWrite(last)).toThrow(IoError);
    const summary = await session.done;
    expect(summary.cbwError?.policy).toBe('break-host-write');
    expect(summary.cbwError?.count).toBe(3);
    expect(summary.cbwError?.reason).toContain('EIO');
    expect(restoreMismatches()).toBe(0);
  });
});

describe('--cbw-timeout', () => {
  /**
   * The copy runs on the main thread (a read rule that never fires makes the backend `main-thread`),
   * so it cannot pass the slot the test holds CLAIMED, as a slow copier would, while a host write
   * waits; the slot is released afterwards and copied in order.
   */
  function onMainThread(): void {
    volume = new Volume(new FaultyBackend(volume.imageBackend, parseFaultPlan('latency:read:0ms')));
  }

  function timedWrite(session: TapeBackupSession): { ms: number; error: unknown } {
    const slot = session.set.slots.unitToSlot[last] as number;
    expect(session.states.tryClaim(slot)).toBe(true);
    const t = performance.now();
    let error: unknown;
    try {
      hostWrite(last);
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - t;
    session.states.release(slot);
    return { ms, error };
  }

  it('break-backup: the write waits cbwTimeoutMs, then lands; the backup fails naming the timeout', async () => {
    onMainThread();
    const session = startWithTapeFaults('break-backup', 'latency:write:0ms', { cbwTimeoutMs: 60 });
    const { ms, error } = timedWrite(session);
    expect(error).toBeUndefined();
    expect(ms).toBeGreaterThanOrEqual(59);
    expect(volume.readTrack(last).records[0]?.data.equals(NEW_DATA)).toBe(true);
    const failure = await rejection(session.done);
    expect(failure).toBeInstanceOf(SessionError);
    expect((failure as SessionError).message).toMatch(/longer than 60 ms/);
    expect(readSessionRecord(at('backup.aws'))?.status).toBe('failed');
  });

  it('break-host-write: the write throws after cbwTimeoutMs, the track is kept, the backup completes', async () => {
    onMainThread();
    const session = startWithTapeFaults('break-host-write', 'latency:write:0ms', { cbwTimeoutMs: 60 });
    const before = slotOf(last);
    const { ms, error } = timedWrite(session);
    expect(error).toBeInstanceOf(SessionError);
    expect(ms).toBeGreaterThanOrEqual(59);
    expect(slotOf(last).equals(before)).toBe(true);
    expect(session.states.state(session.set.slots.unitToSlot[last] as number)).toBe(UNIT_STATE.PENDING);
    await session.done;
    expect(restoreMismatches()).toBe(0);
  });
});
