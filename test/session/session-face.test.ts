/**
 * Layer: scenarios (issue 17, one session shape). Each technique (tape backup, clone, mirror,
 * snapshot) is driven through the Session face only, on small real images: start, status, pause,
 * resume, cancel, command, events and view, with no technique method. Every state a session shows
 * (in its events and its status) is one of SESSION_STATES, and each change of state is a move that
 * SESSION_TRANSITIONS allows: the states come from the one table.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume, openVolume } from '../../src/api/volume-api.js';
import { Prng } from '../../src/base/prng.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { SessionError } from '../../src/errors/snaptape-error.js';
import { SESSION_STATES, SESSION_TRANSITIONS, type SessionState } from '../../src/session/session-state.js';
import type { Session, SessionEvent } from '../../src/session/session.js';
import { countCodes } from '../../src/session/session-view.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { SnapshotSession } from '../../src/techniques/snapshot/snapshot-session.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { makeFilledVolume, randomHostWrite } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { makeBlankSecondary } from '../mirror/mirror-fixtures.js';
import { makeSubsystem } from '../snapshot/helpers/subsystem-fixtures.js';

/** Bounded waits: 20 ms steps, at most this many. */
const MAX_WAIT_STEPS = 1_000;

let pool: CopyPool;
let dir: TempDir;
beforeAll(() => {
  pool = new CopyPool(2);
  dir = makeTempDir('snaptape-session-face-');
});
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

async function waitUntil(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < MAX_WAIT_STEPS && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!done()) throw new Error(`${what} did not happen`);
}

/** Records a session's events and its states as seen, and checks them against the one table. */
class Watcher {
  readonly events: SessionEvent[] = [];
  readonly states: SessionState[];
  private readonly session: Session;

  constructor(session: Session) {
    this.session = session;
    this.states = [session.status().state];
    session.onEvent((event) => {
      this.events.push(event);
      this.see(event.state);
    });
  }

  /** Notes the state now (after a verb: the face answers synchronously). */
  look(): SessionState {
    const state = this.session.status().state;
    this.see(state);
    return state;
  }

  private see(state: SessionState): void {
    if (this.states[this.states.length - 1] !== state) this.states.push(state);
  }

  kinds(): string[] {
    return this.events.map((e) => e.kind);
  }

  /** Every state is in the table and every change is a move the table allows. */
  expectTableMoves(): void {
    for (const state of this.states) expect(SESSION_STATES).toContain(state);
    for (let i = 1; i < this.states.length; i++) {
      const from = this.states[i - 1] as SessionState;
      const to = this.states[i] as SessionState;
      // complete then finish, inside one call (a mirror's remove, a clone's terminate), shows only its end.
      const reachable = new Set<SessionState>(Object.values(SESSION_TRANSITIONS[from]));
      const completing = SESSION_TRANSITIONS[from].complete;
      const finished = completing === undefined ? undefined : SESSION_TRANSITIONS[completing].finish;
      if (finished !== undefined) reachable.add(finished);
      expect(reachable.has(to), `${from} → ${to} is in the table`).toBe(true);
    }
    const ends = this.events.filter((e) => e.kind === 'end');
    expect(ends).toHaveLength(1);
    expect(this.events[this.events.length - 1]?.kind).toBe('end');
  }
}

function expectRefused(what: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    what();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(SessionError);
  expect((thrown as Error).message).toMatch(message);
}

describe('every technique through the Session face', () => {
  it('tape backup: prepare, start, pause, resume, cancel; a second one completes with its map', async () => {
    const volume = makeFilledVolume(dir.path, { cylinders: 3, seed: 17, name: 'backup-src.ckd' });
    try {
      // Slow enough (about 2 s) that pause and resume land while it copies.
      const session: Session = TapeBackupSession.prepare(volume, { tapePath: join(dir.path, 'paced.aws'), workers: 1, throttleMbps: 1 });
      const watch = new Watcher(session);
      expect(session.status()).toMatchObject({ kind: 'backup', state: 'starting', counts: { done: 0 } });
      expect(session.commands).toEqual([]);
      session.start();
      expect(watch.look()).toBe('running');
      expectRefused(() => session.start(), /Cannot run .*: it is running/);
      session.pause();
      expect(watch.look()).toBe('paused');
      expectRefused(() => session.pause(), /Cannot pause .*: it is paused/);
      session.resume();
      expect(watch.look()).toBe('running');
      expectRefused(() => session.command('activate'), /Cannot activate .*: it has no commands/);
      const live = session.view();
      expect(live).not.toBeNull();
      expect(live?.codes).toHaveLength(volume.unitCount);
      expect(live?.legend.map((e) => e.code)).toEqual(['p', 'i', 'o', 'x']);
      session.cancel();
      expect(watch.look()).toBe('cancelled');
      await session.settled;
      expect(session.status().failure).toMatchObject({ code: 'SESSION' });
      expect(session.status().counts.done).toBeLessThan(session.status().counts.total);
      watch.expectTableMoves();
      expect(watch.states).toEqual(['starting', 'running', 'paused', 'running', 'cancelled']);

      // A prepared backup starts in the same synchronous stretch or not at all: its tape is mapped
      // with the track sizes of that instant. Cancelled, it gives its tape back and settles.
      const late: Session = TapeBackupSession.prepare(volume, { tapePath: join(dir.path, 'late.aws'), pool });
      const lateWatch = new Watcher(late);
      await Promise.resolve();
      expectRefused(() => late.start(), /Cannot start .*: it was prepared in an earlier turn/);
      expect(lateWatch.look()).toBe('starting');
      late.cancel();
      await late.settled;
      expect(late.status()).toMatchObject({ state: 'cancelled', failure: { code: 'SESSION' } });
      lateWatch.expectTableMoves();

      const whole: Session = TapeBackupSession.prepare(volume, { tapePath: join(dir.path, 'whole.aws'), pool });
      const wholeWatch = new Watcher(whole);
      whole.start();
      await whole.settled;
      const status = whole.status();
      expect(status).toMatchObject({ kind: 'backup', state: 'completed', failure: null, target: join(dir.path, 'whole.aws') });
      expect(status.counts.done).toBe(status.counts.total);
      expect(status.summary).not.toBeNull();
      expect(wholeWatch.kinds()).toContain('progress');
      wholeWatch.expectTableMoves();
      const map = whole.view();
      expect(map?.counts.pending).toBe(0);
      expect(map?.counts.copiedInOrder).toBe(status.counts.total);
      expect(countCodes(map?.codes ?? '')).toEqual(map?.counts);
      // A view is a sample: it writes nothing (the finished map file is runBackup's and the server's).
      expect(existsSync(join(dir.path, 'whole.aws.map.json'))).toBe(false);
    } finally {
      volume.close();
    }
  });

  it('clone: start runs the precopy, activate and terminate are commands, pause is refused', async () => {
    const source = makeFilledVolume(dir.path, { cylinders: 2, seed: 18, name: 'clone-src.ckd' });
    const target = createVolume(join(dir.path, 'clone-dst.ckd'), { type: '3390', cylinders: 2, volser: 'DST001' });
    try {
      const session: Session = CloneSession.create(source, target, { pool });
      const watch = new Watcher(session);
      expect(session.status()).toMatchObject({ kind: 'clone', state: 'starting', phase: 'created', counts: { done: 0 } });
      expect(session.commands).toEqual(['precopy', 'activate', 'terminate']);
      session.start();
      expect(session.status()).toMatchObject({ state: 'running', phase: 'precopy' });
      expectRefused(() => session.pause(), /Cannot pause clone session .*: a clone is paced/);
      expectRefused(() => session.resume(), /Cannot resume clone session/);
      expectRefused(() => session.command('split'), /Cannot split clone session .*: its commands are precopy, activate, terminate/);
      expectRefused(() => session.command('terminate'), /Cannot terminate clone session .*: it is precopy/);
      session.command('activate');
      expect(session.status().phase).toBe('active');
      await waitUntil('the clone copied', () => session.status().phase === 'copied');
      const status = session.status();
      expect(status.counts.done).toBe(status.counts.total);
      const map = session.view();
      expect(map?.kind).toBe('clone');
      expect(map?.counts.pending).toBe(0);
      expect(map?.legend.map((e) => e.name)).toContain('recopied');
      session.command('terminate');
      await session.settled;
      expect(session.status()).toMatchObject({ state: 'completed', phase: 'terminated', failure: null });
      expect(session.status().summary).not.toBeNull();
      watch.expectTableMoves();
      expect(watch.states).toEqual(['starting', 'running', 'completed']);
    } finally {
      source.close();
      target.close();
    }
  });

  it('mirror: start copies, split and rejoin are commands with their argument, cancel detaches', async () => {
    const primary = makeFilledVolume(dir.path, { cylinders: 2, seed: 19, name: 'mirror-prim.ckd' });
    const secondary = makeBlankSecondary(dir.path, 'mirror-sec.ckd', 2);
    try {
      const session: Session = MirrorSession.prepare(primary, [secondary]);
      const watch = new Watcher(session);
      expect(session.status()).toMatchObject({ kind: 'mirror', state: 'starting' });
      session.start();
      expect(watch.look()).toBe('running');
      const total = session.status().counts.total;
      expect(total).toBe(primary.unitCount);
      await waitUntil('the initial copy', () => session.status().counts.done === total && session.status().phase === 'M2 ONGOING');

      session.command('split', { mirror: 'M2' });
      expect(session.status().phase).toBe('M2 BACKUP');
      const prng = new Prng(19);
      const written = [3, 7, 11];
      for (const t of written) randomHostWrite(primary, t, prng);
      const split = session.view({ mirror: 'M2' });
      expect(split?.kind).toBe('mirror');
      expect(split?.counts.pending).toBe(written.length);
      expect(session.status().counts.done).toBe(total - written.length);
      expect(() => session.view({ mirror: 'M3' })).toThrow(/Cannot draw the map of mirror M3 of the mirror of .*: its mirrors are M2/);
      expect(() => session.command('split', { volume: 'x' })).toThrow(/Cannot split the mirror of .* with "volume": it takes mirror/);
      expectRefused(() => session.pause(), /a mirror cannot stop propagating writes/);
      expectRefused(() => session.command('activate'), /its commands are split, rejoin, detach, remove/);

      session.command('rejoin', { mirror: 'M2' });
      await waitUntil('the resync', () => session.status().counts.done === total && session.status().phase === 'M2 ONGOING');
      expect(session.view()?.counts.pending).toBe(0);
      session.cancel();
      expect(watch.look()).toBe('cancelled');
      await session.settled;
      expectRefused(() => session.command('split'), /Cannot split the mirror of .*: it is cancelled/);
      watch.expectTableMoves();
      expect(watch.states).toEqual(['starting', 'running', 'cancelled']);
      // Detached, not removed: a restart resumes it from its state file.
      expect(existsSync(`${primary.path}.mirror`)).toBe(true);
    } finally {
      primary.close();
    }
  });

  it('snapshot: start defines and executes at once; it has no map, no pause and no commands', async () => {
    const { sub, source } = makeSubsystem(dir.path, { seed: 20 });
    const target = join(sub, 'TGT');
    const session: Session = new SnapshotSession(source, target, { volser: 'TGT001' });
    expect(session.status()).toMatchObject({ kind: 'snapshot', state: 'starting', counts: { total: 0, done: 0 } });
    expect(session.view()).toBeNull();
    session.start();
    // Subscribed right after start: the state and the end still come, on the next turn.
    const watch = new Watcher(session);
    expect(watch.states).toEqual(['completed']);
    await session.settled;
    await new Promise((r) => setImmediate(r));
    expect(watch.kinds()).toEqual(['state', 'end']);
    const status = session.status();
    expect(status).toMatchObject({ kind: 'snapshot', state: 'completed', phase: 'complete', failure: null });
    expect(status.counts.total).toBeGreaterThan(0);
    expect(status.counts.done).toBe(status.counts.total);
    expect(session.progress()).toMatchObject({ state: 'complete', mode: 'volume', volser: 'TGT001' });
    expectRefused(() => session.start(), /Cannot run snapshot .*: it is completed/);
    expectRefused(() => session.pause(), /a snapshot is instant/);
    expectRefused(() => session.cancel(), /Cannot cancel the snapshot .*: it is completed/);
    expectRefused(() => session.command('split'), /it has no commands/);
    // The target is a volume of its own now: it opens, with the source's geometry.
    const copy = openVolume(target, { readOnly: true });
    try {
      expect(copy.unitCount).toBe(status.counts.total);
    } finally {
      copy.close();
    }

    // With a physical copy the session runs until the standalone image is written.
    const physicalPath = join(dir.path, 'physical.ckd');
    const physical: Session = new SnapshotSession(source, join(sub, 'TGT2'), { volser: 'TGT002', physical: physicalPath });
    physical.start();
    const physicalWatch = new Watcher(physical);
    expect(physical.status()).toMatchObject({ state: 'running', phase: 'copying' });
    expectRefused(() => physical.cancel(), /a physical copy runs to its end/);
    await physical.settled;
    const done = physical.status();
    expect(done).toMatchObject({ state: 'completed', phase: 'complete', failure: null });
    expect(done.counts.done).toBe(done.counts.total);
    expect(existsSync(physicalPath)).toBe(true);
    physicalWatch.expectTableMoves();
    expect(physicalWatch.states).toEqual(['running', 'completed']);
  });
});
