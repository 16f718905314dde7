/**
 * Layer: named scenarios. Every misuse of a clone gets a typed error whose message reads
 * "Cannot <action>: <state>", and nothing is half-done: ACTIVATE twice, TERMINATE before the copy
 * is done, CREATE onto a destination that is too small or of another geometry (and onto itself, a
 * read-only one, one already in a session), I/O on the destination before ACTIVATE, and a 9th
 * session on a source. The clone phase table is checked against its transition function.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume, openVolume } from '../../src/api/volume-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { SessionError, UsageError } from '../../src/errors/snaptape-error.js';
import { CLONE_PHASES, CLONE_TRANSITIONS, applyCloneVerb, type CloneVerb } from '../../src/techniques/clone/clone-phase.js';
import { cloneRecordPath, readCloneRecord } from '../../src/techniques/clone/clone-record.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { MAX_CLONE_SESSIONS_PER_SOURCE, protectionBitsOf } from '../../src/techniques/clone/protection-bits.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { makeFilledVolume, makeTarget, slotOf } from './clone-fixtures.js';

let pool: CopyPool;
let dir: TempDir;

beforeAll(() => {
  pool = new CopyPool(2);
  dir = makeTempDir('snaptape-clone-misuse-');
});
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

function noTrace(source: ReturnType<typeof makeFilledVolume>, target: ReturnType<typeof makeFilledVolume>): void {
  expect(source.interceptorNames()).toEqual([]);
  expect(target.interceptorNames()).toEqual([]);
  expect(existsSync(cloneRecordPath(target.path))).toBe(false);
  expect(protectionBitsOf(source).sessions).toEqual([]);
}

describe('clone phase table', () => {
  it('the transition function allows exactly the table, and refusals are SessionErrors', () => {
    const verbs: CloneVerb[] = ['precopy', 'activate', 'copied', 'terminate', 'cancel', 'fail'];
    for (const phase of CLONE_PHASES) {
      for (const verb of verbs) {
        const step = CLONE_TRANSITIONS[phase][verb];
        const run = (): unknown => applyCloneVerb({ phase, op: 'CREATE', opStatus: 'complete' }, verb, { session: 's', tracksLeft: 3 });
        if (step) expect((run() as { phase: string }).phase).toBe(step.phase);
        else expect(run).toThrow(SessionError);
      }
    }
  });
});

describe('clone misuse', () => {
  it('ACTIVATE twice is refused and changes nothing', async () => {
    const sub = join(dir.path, 'twice');
    makeTempDirIn(sub);
    const source = makeFilledVolume(sub, { cylinders: 2, seed: 11 });
    const target = makeTarget(sub, 'target.ckd', { cylinders: 2 });
    try {
      const session = CloneSession.create(source, target, { pool, activate: true });
      const before = session.status();
      expect(() => session.activate()).toThrow(/^Cannot activate clone session clone-\d+: it is already active$/);
      expect(session.status().activatedAt).toBe(before.activatedAt);
      await session.whenCopied();
      expect(() => session.activate()).toThrow(SessionError);
      session.terminate();
      expect(() => session.terminate()).toThrow(/Cannot terminate clone session .*: it is terminated/);
    } finally {
      source.close();
      target.close();
    }
  });

  it('TERMINATE before the copy is done is refused, naming the tracks left; the session goes on', async () => {
    const sub = join(dir.path, 'early');
    makeTempDirIn(sub);
    const source = makeFilledVolume(sub, { cylinders: 4, seed: 12 });
    const target = makeTarget(sub, 'target.ckd', { cylinders: 4 });
    try {
      const session = CloneSession.create(source, target, { pool });
      expect(() => session.terminate()).toThrow(/^Cannot terminate clone session .*: it is created and 60 tracks are not copied yet$/);
      session.precopy();
      expect(() => session.terminate()).toThrow(/it is precopy and \d+ tracks are not copied yet/);
      // Slow the copy down so that it is surely still running.
      const slow = CloneSession.create(source, makeTarget(sub, 'slow.ckd', { cylinders: 4 }), { activate: true, throttleMbps: 0.05, workers: 1 });
      expect(() => slow.terminate()).toThrow(/it is active and \d+ tracks are not copied yet/);
      expect(slow.phase).toBe('active');
      slow.cancel();
      expect(readCloneRecord(slow.target.path)?.complete).toBe(false);
      session.activate();
      await session.whenCopied();
      session.terminate();
      expect(readCloneRecord(target.path)?.complete).toBe(true);
      slow.target.close();
    } finally {
      source.close();
      target.close();
    }
  });

  it('CREATE onto a destination too small, of another geometry, itself, read-only, or busy is refused with nothing made', () => {
    const sub = join(dir.path, 'create');
    makeTempDirIn(sub);
    const source = makeFilledVolume(sub, { cylinders: 3, seed: 13 });
    const small = makeTarget(sub, 'small.ckd', { cylinders: 2 });
    const other = makeTarget(sub, 'other.ckd', { cylinders: 3, type: '3380' });
    const fba = createVolume(join(sub, 'disk.fba'), { type: 'fba', blocks: 4096, volser: 'FBA001' });
    const good = makeTarget(sub, 'good.ckd', { cylinders: 3 });
    try {
      expect(() => CloneSession.create(source, small, { pool })).toThrow(
        /^Cannot create clone session .* onto .*small\.ckd: the destination is too small: it has 30 tracks, the source 45$/,
      );
      noTrace(source, small);
      expect(() => CloneSession.create(source, other, { pool })).toThrow(/another geometry/);
      noTrace(source, other);
      expect(() => CloneSession.create(source, fba, { pool })).toThrow(UsageError);
      expect(() => CloneSession.create(source, source, { pool })).toThrow(/the source and the destination are the same volume/);
      expect(() => CloneSession.create(source, good, { pool, datasets: ['NO.SUCH.**'] })).toThrow(/no data set matches NO\.SUCH\.\*\*/);
      noTrace(source, good);
      const readOnly = openVolume(good.path.replace('good', 'other'), { readOnly: true });
      expect(() => CloneSession.create(source, readOnly, { pool })).toThrow(/open read-only/);
      readOnly.close();
      const first = CloneSession.create(source, good, { pool });
      expect(() => CloneSession.create(source, good, { pool })).toThrow(/already the destination of clone session/);
      expect(() => CloneSession.create(good, small, { pool })).toThrow(/the source is the destination of clone session/);
      first.cancel();
      expect(protectionBitsOf(source).sessions).toEqual([]);
    } finally {
      for (const v of [source, small, other, fba, good]) v.close();
    }
  });

  it('the destination refuses reads and writes before ACTIVATE, and serves them after', async () => {
    const sub = join(dir.path, 'io');
    makeTempDirIn(sub);
    const source = makeFilledVolume(sub, { cylinders: 2, seed: 14 });
    const target = makeTarget(sub, 'target.ckd', { cylinders: 2 });
    try {
      const session = CloneSession.create(source, target, { pool });
      expect(() => target.readTrack(5)).toThrow(
        /^Cannot read track 5 of .*target\.ckd: it is the destination of clone session .*, usable after ACTIVATE \(it is created\)$/,
      );
      expect(() => target.writeTrackRecords(5, [{ key: Buffer.alloc(0), data: Buffer.alloc(10) }])).toThrow(/Cannot (read|write) track 5/);
      session.activate();
      expect(slotOf(target, 5).equals(slotOf(source, 5))).toBe(true);
      await session.whenCopied();
      session.terminate();
    } finally {
      source.close();
      target.close();
    }
  });

  it(`a source takes ${MAX_CLONE_SESSIONS_PER_SOURCE} sessions; the next is refused clearly and leaves nothing behind`, () => {
    const sub = join(dir.path, 'nine');
    makeTempDirIn(sub);
    const source = makeFilledVolume(sub, { cylinders: 1, seed: 15 });
    const targets = Array.from({ length: MAX_CLONE_SESSIONS_PER_SOURCE + 1 }, (_, i) => makeTarget(sub, `t${i}.ckd`, { cylinders: 1 }));
    try {
      const sessions = targets.slice(0, MAX_CLONE_SESSIONS_PER_SOURCE).map((t) => CloneSession.create(source, t, { pool }));
      const ninth = targets[MAX_CLONE_SESSIONS_PER_SOURCE];
      if (!ninth) throw new Error('nine targets');
      expect(() => CloneSession.create(source, ninth, { pool })).toThrow(
        /^Cannot create clone session .* on .*source\.ckd: it already has 8 clone sessions \(.*\), the most a source allows$/,
      );
      expect(ninth.interceptorNames()).toEqual([]);
      expect(existsSync(cloneRecordPath(ninth.path))).toBe(false);
      for (const s of sessions) s.cancel();
      // A freed slot takes a new session.
      CloneSession.create(source, ninth, { pool }).cancel();
    } finally {
      source.close();
      for (const t of targets) t.close();
    }
  });
});

/** Each scenario gets a sub-folder of the file's temp dir (removed with it). */
function makeTempDirIn(path: string): void {
  mkdirSync(path, { recursive: true });
}
