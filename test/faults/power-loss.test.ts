/**
 * Power loss at every step: a clone runs to `complete` and a tape backup to `completed` while
 * test/harness/power-loss-fs.ts watches their folder, and at every watched operation the test
 * asks what a power failure right then would leave: writes not fsynced are lost, and a name
 * change may or may not have reached the disk unless its directory was fsynced.
 *
 * After every such crash: each record that is there can be read (never an empty or torn file in
 * place of the last one), and a record that says complete is backed by its data: the clone's
 * destination, the backup's tape, a snapshot's target directory and its physical image, byte for
 * byte as the run finished them; a track a mirror's state file calls valid, on the secondary.
 *
 * Both runs keep their I/O on this thread, so the model sees all of it: the sources are CCKD
 * images (no file offsets, so copies run on the owning thread) and the tape's finishing step runs
 * here instead of on a worker (the same function the worker runs).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { finishTape, type FinishTapeTask } from '../../src/techniques/tape-backup/finish-tape-task.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { MirrorStateFile, mirrorFilePath, type StoredState } from '../../src/techniques/mirror/mirror-state-file.js';
import { CHECKPOINT_INTERVAL_MS, TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { ChangeTracker } from '../../src/techniques/tracking/change-tracker.js';
import { trackingStatePath, type Checkpoint, type TrackingState } from '../../src/techniques/tracking/tracking-file.js';
import { runPhysicalCopy } from '../../src/techniques/snapshot/physical-copy.js';
import { defineSnapshot, executeSnapshot } from '../../src/techniques/snapshot/snapshot-protocol.js';
import { parseToken } from '../../src/techniques/snapshot/snapshot-tokens.js';
import type { Volume } from '../../src/volume/volume.js';
import { makeFilledVolume, makeTarget } from '../clone/clone-fixtures.js';
import { PowerLossFs, type CrashPoint, type CrashView } from '../harness/power-loss-fs.js';
import { recordReliability } from '../harness/crash-child.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { makeSubsystem } from '../snapshot/helpers/subsystem-fixtures.js';
import { makeBlankSecondary } from '../mirror/mirror-fixtures.js';

/** A pool whose tape finish runs on this thread, where the file-system model can see it. */
class ThisThreadFinishPool extends CopyPool {
  override runScript<T, R>(filename: string, name: string, task: T): Promise<R> {
    if (name !== 'finishTape') return super.runScript(filename, name, task);
    return Promise.resolve(finishTape(task as FinishTapeTask) as R);
  }
}

let pool: ThisThreadFinishPool;
let dir: TempDir;

beforeAll(() => {
  pool = new ThisThreadFinishPool(1);
  dir = makeTempDir('snaptape-power-loss-');
});
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

/** A CCKD copy of a filled 3390: a source that is copied on this thread. */
function cckdSource(where: string, seed: number): Volume {
  const filled = makeFilledVolume(where, { cylinders: 2, seed, name: 'filled.ckd' });
  const cckd = createVolume(join(where, 'source.cckd'), { type: '3390', cylinders: 2, volser: 'CCKD01', format: 'cckd' });
  for (let t = 0; t < filled.ckd.trackCount; t++) cckd.writeTrackImages(t, [filled.readTrackImage(t)]);
  filled.close();
  cckd.sync();
  return cckd;
}

/**
 * Every crash point, both variants: each record there parses, and `claims(records)` names the data
 * file a record says is complete (or undefined), which must then hold `finished`. One line per fault.
 */
function violations(
  points: readonly CrashPoint[],
  records: readonly string[],
  claims: (records: ReadonlyMap<string, unknown>) => string | undefined,
  finished: ReadonlyMap<string, Buffer>,
): string[] {
  const found: string[] = [];
  for (const point of points) {
    for (const [variant, view] of [
      ['names kept', point.namesKept],
      ['names synced', point.namesSynced],
    ] as [string, CrashView][]) {
      const parsed = new Map<string, unknown>();
      for (const name of records) {
        const bytes = view.get(name);
        if (bytes === undefined) continue;
        try {
          parsed.set(name, JSON.parse(bytes.toString('utf8')));
        } catch {
          found.push(`after step ${point.step} (${point.after}), ${variant}: ${name} cannot be read (${bytes.length} bytes)`);
        }
      }
      const at = `after step ${point.step} (${point.after}), ${variant}`;
      const claimed = claims(parsed);
      if (claimed === undefined) continue;
      const held = view.get(claimed);
      const want = finished.get(claimed);
      if (held === undefined || want === undefined || !held.equals(want)) {
        found.push(
          `${at}: a record says complete, but ${claimed} holds ${held === undefined ? 'nothing' : `${held.length} bytes that differ from the finished ${want?.length ?? 0}`}`,
        );
      }
    }
  }
  return found;
}

describe('power loss at every step', () => {
  it('a clone record says complete only when the destination is on disk', async () => {
    const where = join(dir.path, 'clone');
    mkdirSync(where, { recursive: true });
    const source = cckdSource(where, 0xd15c);
    const target = makeTarget(where, 'target.ckd', { cylinders: 2 });
    const fsModel = PowerLossFs.install(where);
    try {
      const session = CloneSession.create(source, target, { pool, activate: true });
      await session.whenCopied();
      session.terminate();
    } finally {
      fsModel.uninstall();
      source.close();
      target.close();
    }
    const finished = new Map([['target.ckd', readFileSync(join(where, 'target.ckd'))]]);
    const record = 'target.ckd.clone.json';
    expect(JSON.parse(readFileSync(join(where, record), 'utf8')).complete).toBe(true);
    expect(fsModel.points.length).toBeGreaterThan(20);
    const found = violations(
      fsModel.points,
      [record],
      (r) => ((r.get(record) as { complete?: boolean } | undefined)?.complete === true ? 'target.ckd' : undefined),
      finished,
    );
    // The last crash point (after everything) must show the finished record: the run is durable at its end.
    recordReliability({ kind: 'power-loss', technique: 'clone', crashPoints: fsModel.points.length, violations: found.length });
    expect(found.slice(0, 8), `${found.length} crash points break the invariant`).toEqual([]);
    const last = fsModel.points.at(-1) as CrashPoint;
    expect(JSON.parse(last.namesSynced.get(record)?.toString('utf8') ?? '{}').complete, 'the complete record is durable when the clone ends').toBe(true);
  });

  it('a backup record says completed only when the tape is on disk', async () => {
    const where = join(dir.path, 'backup');
    mkdirSync(where, { recursive: true });
    const source = cckdSource(where, 0xb4c);
    const fsModel = PowerLossFs.install(where);
    try {
      const session = TapeBackupSession.start(source, { tapePath: join(where, 'backup.aws'), pool });
      await session.done;
    } finally {
      fsModel.uninstall();
      source.close();
    }
    const finished = new Map([['backup.aws', readFileSync(join(where, 'backup.aws'))]]);
    const record = 'backup.aws.session.json';
    expect(JSON.parse(readFileSync(join(where, record), 'utf8')).status).toBe('completed');
    const found = violations(
      fsModel.points,
      [record, 'backup.aws.session.layout.json'],
      (r) => ((r.get(record) as { status?: string } | undefined)?.status === 'completed' ? 'backup.aws' : undefined),
      finished,
    );
    recordReliability({ kind: 'power-loss', technique: 'backup', crashPoints: fsModel.points.length, violations: found.length });
    expect(found.slice(0, 8), `${found.length} crash points break the invariant`).toEqual([]);
    const last = fsModel.points.at(-1) as CrashPoint;
    expect(JSON.parse(last.namesSynced.get(record)?.toString('utf8') ?? '{}').status, 'the completed record is durable when the backup ends').toBe('completed');
    // The completed record's fsyncs run on libuv's pool (durableReplaceOffThread): the model saw them.
    expect(fsModel.points.some((p) => p.after === 'sync backup.aws.session.json.async.tmp (promise)')).toBe(true);
  });

  it("a tracked volume's checkpoint becomes a base only once the completed record and the tape are on disk", async () => {
    const where = join(dir.path, 'tracked');
    mkdirSync(where, { recursive: true });
    const source = cckdSource(where, 0x7ac);
    ChangeTracker.enable(source);
    const tape = join(where, 'backup.aws');
    const fsModel = PowerLossFs.install(where);
    try {
      await TapeBackupSession.start(source, { tapePath: tape, pool }).done;
    } finally {
      fsModel.uninstall();
      source.close();
    }
    const finished = new Map([['backup.aws', readFileSync(tape)]]);
    const record = 'backup.aws.session.json';
    const state = relative(where, trackingStatePath(source.path));
    /** The tape's checkpoint in a tracking state, if the state names it. */
    const checkpointOf = (r: ReadonlyMap<string, unknown>): Checkpoint | undefined =>
      (r.get(state) as TrackingState | undefined)?.checkpoints.find((c) => c.tape?.path === tape);
    const found = violations(
      fsModel.points,
      [record, state],
      (r) => {
        const completed = (r.get(record) as { status?: string } | undefined)?.status === 'completed';
        // A base whose record does not say completed is a fault of its own, named apart.
        if (checkpointOf(r)?.tape?.complete === true && !completed) return 'a record that says completed';
        return completed ? 'backup.aws' : undefined;
      },
      finished,
    );
    recordReliability({ kind: 'power-loss', technique: 'backup, tracked', crashPoints: fsModel.points.length, violations: found.length });
    expect(found.slice(0, 8), `${found.length} crash points break the invariant`).toEqual([]);
    const last = fsModel.points.at(-1) as CrashPoint;
    const lastState = JSON.parse(last.namesSynced.get(state)?.toString('utf8') ?? '{}') as TrackingState;
    expect(lastState.checkpoints.find((c) => c.tape?.path === tape)?.tape?.complete, 'the base is durable when the backup ends').toBe(true);
    expect(fsModel.points.some((p) => p.after === `sync ${state}.async.tmp (promise)`)).toBe(true);
  });

  it('a backup checkpoint, written off the owning thread, leaves the old record or the new one', async () => {
    const where = join(dir.path, 'backup-checkpoint');
    mkdirSync(where, { recursive: true });
    const source = cckdSource(where, 0xc4e);
    // Slowed so that the copy outlasts one checkpoint interval: its record is replaced while it runs.
    let tapeBytes = 0;
    for (let t = 0; t < source.unitCount; t++) tapeBytes += source.readTrackImage(t).length;
    const throttleMbps = tapeBytes / 1e6 / ((CHECKPOINT_INTERVAL_MS + 1_500) / 1000);
    const fsModel = PowerLossFs.install(where);
    try {
      const session = TapeBackupSession.start(source, { tapePath: join(where, 'backup.aws'), pool, throttleMbps });
      await session.done;
    } finally {
      fsModel.uninstall();
      source.close();
    }
    const record = 'backup.aws.session.json';
    // The checkpoints' renames, then the completed record's (its fsyncs are off the owning thread too).
    const replaced = fsModel.points.filter((p) => p.after === `renameSync ${record}.async.tmp -> ${record}`);
    const statuses = replaced.map((p) => (JSON.parse(p.namesKept.get(record)?.toString('utf8') ?? '{}') as { status?: string }).status);
    expect(statuses.at(-1)).toBe('completed');
    expect(statuses.slice(0, -1).length, 'a checkpoint replaced the record during the copy').toBeGreaterThan(0);
    const finished = new Map([['backup.aws', readFileSync(join(where, 'backup.aws'))]]);
    const found = violations(
      fsModel.points,
      [record, 'backup.aws.session.layout.json'],
      (r) => ((r.get(record) as { status?: string } | undefined)?.status === 'completed' ? 'backup.aws' : undefined),
      finished,
    );
    recordReliability({ kind: 'power-loss', technique: 'backup checkpoint', crashPoints: fsModel.points.length, violations: found.length });
    expect(found.slice(0, 8), `${found.length} crash points break the invariant`).toEqual([]);
    // Right after a checkpoint's rename, the record is the checkpoint's: running, and whole.
    expect(statuses.slice(0, -1).every((status) => status === 'running')).toBe(true);
  }, 60_000);

  it('a snapshot token says complete only when the target (and its physical image) is on disk', async () => {
    const where = join(dir.path, 'snapshot');
    mkdirSync(where, { recursive: true });
    const { sub, source } = makeSubsystem(where, { seed: 5 });
    const fsModel = PowerLossFs.install(sub);
    let pointer: string;
    let physical: string;
    try {
      // A pointer copy (complete when execute returns), then one with a physical image (complete when written).
      const first = defineSnapshot(source, join(sub, 'TGT'), { volser: 'TGT001' });
      executeSnapshot(first.token);
      pointer = parseToken(first.token, 'S').id;
      const second = defineSnapshot(source, join(sub, 'TG2'), { volser: 'TG2001' });
      const executed = executeSnapshot(second.token, { physical: join(sub, 'physical.ckd') });
      await runPhysicalCopy(executed.pollingToken);
      physical = parseToken(second.token, 'S').id;
    } finally {
      fsModel.uninstall();
    }
    const finished = new Map(['TGT', 'TG2', 'physical.ckd'].map((name) => [name, readFileSync(join(sub, name))]));
    const records = [`tokens/${pointer}.json`, `tokens/${physical}.json`];
    const complete = (r: ReadonlyMap<string, unknown>, name: string): boolean => (r.get(name) as { state?: string } | undefined)?.state === 'complete';
    // Each token's claim is checked on its own data: the pointer copy's target, the physical image.
    const found = [
      ...violations(fsModel.points, records, (r) => (complete(r, records[0] as string) ? 'TGT' : undefined), finished),
      ...violations(fsModel.points, records, (r) => (complete(r, records[1] as string) ? 'physical.ckd' : undefined), finished),
    ];
    recordReliability({ kind: 'power-loss', technique: 'snapshot', crashPoints: fsModel.points.length, violations: found.length });
    expect(found.slice(0, 8), `${found.length} crash points break the invariant`).toEqual([]);
    const last = fsModel.points.at(-1) as CrashPoint;
    for (const name of records)
      expect(JSON.parse(last.namesSynced.get(name)?.toString('utf8') ?? '{}').state, `${name} is durable at the end`).toBe('complete');
  });

  it('a mirror state file calls a track valid only when the local secondary holds it on disk', async () => {
    const where = join(dir.path, 'mirror');
    mkdirSync(where, { recursive: true });
    const primary = makeFilledVolume(where, { cylinders: 2, seed: 0x3177, name: 'primary.ckd' });
    const secondaryPath = makeBlankSecondary(where, 'secondary.ckd', 2);
    const location = primary.backend.location();
    const slotBytes = primary.backend.slotBytes;
    const units = primary.unitCount;
    const fsModel = PowerLossFs.install(where);
    try {
      const mirror = MirrorSession.create(primary, [secondaryPath]);
      await mirror.whenInSync();
      await mirror.detach();
    } finally {
      fsModel.uninstall();
      primary.close();
    }
    expect(location.kind).toBe('file');
    const offset = location.kind === 'file' ? location.dataOffsetBytes : 0;
    const finished = readFileSync(secondaryPath);
    const slot = (image: Buffer, u: number): Buffer => image.subarray(offset + u * slotBytes, offset + (u + 1) * slotBytes);
    const stateName = mirrorFilePath('primary.ckd');
    const scratch = join(dir.path, 'mirror-state-after-crash');
    const found: string[] = [];
    let claims = 0;
    for (const point of fsModel.points) {
      for (const [variant, view] of [
        ['names kept', point.namesKept],
        ['names synced', point.namesSynced],
      ] as [string, CrashView][]) {
        const bytes = view.get(stateName);
        if (bytes === undefined) continue;
        writeFileSync(scratch, bytes);
        let state: StoredState;
        try {
          const opened = MirrorStateFile.open(scratch);
          opened.file.close();
          state = opened.state;
        } catch {
          continue; // A state file that cannot be read claims nothing (the mirror is then started again).
        }
        const secondary = view.get('secondary.ckd') ?? Buffer.alloc(0);
        for (let u = 0; u < units; u++) {
          if (!state.table.isValid(u, 2)) continue;
          claims++;
          if (!slot(secondary, u).equals(slot(finished, u)))
            found.push(`after step ${point.step} (${point.after}), ${variant}: track ${u} is valid on M2, but the secondary does not hold it`);
        }
      }
    }
    expect(claims, 'the state file called tracks valid at some crash points').toBeGreaterThan(0);
    recordReliability({ kind: 'power-loss', technique: 'mirror (local)', crashPoints: fsModel.points.length, violations: found.length });
    expect(found.slice(0, 8), `${found.length} track claims break the invariant`).toEqual([]);
  });
});
