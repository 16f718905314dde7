/**
 * Snapshot to virtual tape (technique 1). `start` runs synchronously between two host writes: it
 * chooses the elements, takes the size table V, maps every track or block group to its final tape
 * offset, creates the tape file, and registers this session's interceptor on the volume. That
 * instant is the point in time the tape holds. Piscina workers then copy in parallel while the
 * volume stays writable; a host write to a unit not yet copied first copies the old bytes to their
 * mapped tape position (out of order), synchronously, and only then goes ahead. With a spool
 * (`spoolPath`), those old bytes go to a fast local file instead, and a drain moves them to the tape
 * in the background (backup-spool.ts, spool-drain.ts).
 *
 * Invariants:
 * - every slot ends COPIED or COPIED_OOO before the tape is finished; otherwise the session fails;
 * - the interceptor is registered for exactly the life of the copy, so no host write is missed;
 * - the session record says "running" until the tape is finished and verified;
 * - before a host write is acknowledged, the durable bitmap says its slots are safe (on the tape or
 *   in the spool): dm-era's rule, so that a resume after a crash copies only unchanged slots.
 */
import { SteppedWriteback } from '../../base/stepped-writeback.js';
import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { resolve } from 'node:path';
import { createTargetRate, type TargetRate } from '../../engine/target-rate.js';
import { assert } from '../../base/assert.js';
import { IoError, SessionError, SnaptapeError, errorFromData, isSnaptapeError } from '../../errors/snaptape-error.js';
import { fbaPositionOf } from '../../tape/tape-region.js';
import { CopyPool, defaultWorkerCount } from '../../engine/copy-pool.js';
import { runBackgroundCopy } from '../../engine/background-copy.js';
import type { CopyPath } from '../../engine/copy-loop.js';
import type { CopyPlan } from '../../engine/copy-plan.js';
import { CONTROL, TrackStateArray, UNIT_STATE } from '../../engine/track-state.js';
import { FINAL_STATES, transition, type SessionState, type SessionVerb } from '../../session/session-state.js';
import type { Session, SessionArgs, SessionFailure, SessionListener, SessionStatus } from '../../session/session.js';
import { SessionEvents } from '../../session/session-events.js';
import { onlyArgs, unknownVerb } from '../../session/session-args.js';
import type { TrackMapSnapshot } from '../../session/session-view.js';
import { BackupTrackMap, sampleBackupMap } from './backup-track-map.js';
import type { ImageLock } from '../../image/image-lock.js';
import type { MappedTapeWriter } from '../../tape/mapped-tape-writer.js';
import type { TapeVerification } from '../../tape/tape-verify.js';
import type { Volume } from '../../volume/volume.js';
import type { WriteEvent, WriteInterceptor } from '../../volume/write-interceptor.js';
import { HostWriteRecorder } from '../../session/host-write-recorder.js';
import { backupCopyPlan } from './backup-copy-plan.js';
import { finishTapeOnPool } from './finish-tape-task.js';
import {
  blockCount,
  blocksHashed,
  newBlockDigestPass,
  runBlockDigestTask,
  stopBlockDigestPass,
  withoutBlocks,
  type BlockDigestShared,
  type BlockDigestTaskResult,
} from './block-digest-pass.js';
import { injectTapeFaults } from './tape-faults.js';
import { NEW_ELEMENT_DIGEST } from './element-digest.js';
import type { BackupSpool } from './backup-spool.js';
import { PERSISTED_SPOOLED, type DurableSlotBitmap } from './durable-bitmap.js';
import { CopyBeforeWrite } from './copy-before-write.js';
import { saveLayout, type StoredLayout } from './backup-layout-store.js';
import type { BackupChainPlan } from '../tracking/backup-chain.js';
import { trackerOf } from '../tracking/change-tracker.js';
import type { BackupLayout } from './backup-layout.js';
import type { BackupSet } from './backup-elements.js';
import type { SourceDescription } from './backup-labels.js';
import { prepareNewBackup, prepareResumedBackup, type PreparedBackup } from './backup-prepare.js';
import { type BackupPhases, type BackupProgress, type BackupSummary, type CbwErrorStatus, type TapeBackupOptions } from './backup-types.js';
import { sessionRecordKey, writeRecordOffThread, writeSessionRecord, type RecordStatus, type SessionRecord } from './session-record.js';

/** How often progress is sampled and the session record checkpointed. */
export const PROGRESS_INTERVAL_MS = 250;
/** Bytes copied to the tape between two of its writebacks during the copy (base/stepped-writeback.ts). */
const TAPE_WRITEBACK_BYTES = 128 * 1024 * 1024;
/** Pool threads beside the copy workers for the digest pass (block-digest-pass.ts). */
const DIGEST_THREADS = 1;
export const CHECKPOINT_INTERVAL_MS = 5_000;
export { DEFAULT_CBW_TIMEOUT_MS, DEFAULT_PAUSE_MS } from './backup-types.js';
export type { BackupProgress, BackupSummary, CbwErrorPolicy, CbwErrorStatus, ElementSummary, TapeBackupOptions } from './backup-types.js';

export class TapeBackupSession extends EventEmitter implements WriteInterceptor, Session {
  // Set once.
  readonly kind = 'backup' as const;
  /** A backup has no verbs besides pause, resume and cancel. */
  readonly commands: readonly string[] = [];
  readonly settled: Promise<void>;
  readonly name: string;
  readonly stage = 'copy-before-write' as const;
  readonly volume: Volume;
  readonly options: TapeBackupOptions;
  readonly set: BackupSet;
  readonly source: SourceDescription;
  readonly layout: BackupLayout;
  readonly states: TrackStateArray;
  readonly done: Promise<BackupSummary>;
  /** Units the host wrote while the interceptor was registered (its view()). */
  readonly hostWrites: HostWriteRecorder;
  private readonly writer: MappedTapeWriter;
  private readonly targetVolume: Volume | undefined;
  private readonly tapeLock: ImageLock | undefined;
  private readonly bitmap: DurableSlotBitmap;
  private readonly spool: BackupSpool | undefined;
  private readonly cbw: CopyBeforeWrite;
  /** The checkpoint this backup sets at its start instant (a new backup of a tracked volume). */
  private readonly chain: BackupChainPlan | undefined;
  /** What the engine copies in the background (engine/copy-plan.ts). */
  readonly plan: CopyPlan;
  private readonly targetRate: TargetRate | undefined;
  /**
   * The blocks' digests, made from the tape beside the copy (block-digest-pass.ts); its tables are
   * made by copyAll, after the start instant (52 bytes a block), not in its synchronous stretch.
   */
  private digestPass: BlockDigestShared | undefined;
  /** The digest pass's tasks started so far (none rejects). */
  private readonly digesting: Promise<BlockDigestTaskResult>[] = [];
  private readonly flush: SteppedWriteback;
  private readonly startedMs = Date.now();
  private readonly startedAt = new Date().toISOString();
  private readonly bytesTotal: number;
  // Main thread only.
  private stateValue: SessionState = 'starting';
  private failure: SnaptapeError | undefined;
  /** A new backup's layout inputs, until they are made durable (before its first record). */
  private layoutToSave: StoredLayout | undefined;
  /** Records decided so far: a record written off the thread lands only if it is still the last. */
  private recordsDecided = 0;
  /** The checkpoint whose record is being written, if any. */
  private checkpointing: Promise<void> | undefined;
  /** Set once the completed record is decided: no checkpoint follows it. */
  private completedRecord = false;
  private timer: NodeJS.Timeout | undefined;
  private lastCheckpointMs = Date.now();
  private finishedMs: number | undefined;
  private copiedMs: number | undefined;
  private cbwErrorValue: CbwErrorStatus | undefined;
  /** The source's mtime when the session stopped protecting it (a failure), for the record. */
  private stoppedMtimeNs: string | undefined;
  private resumable = true;
  /** Where the background copy ran, once it ran. */
  copyPath: CopyPath | undefined;
  /** Why the final record could not be written, if it could not. */
  private recordError: string | undefined;
  private readonly events = new SessionEvents(() => this.stateValue);
  private summaryValue: BackupSummary | undefined;
  private failureValue: SessionFailure | undefined;
  private mapValue: BackupTrackMap | undefined;
  /** True from `prepare` to the end of its synchronous stretch: when `start` may take the instant. */
  private startable = false;

  private constructor(volume: Volume, options: TapeBackupOptions, prepared: PreparedBackup) {
    super();
    this.volume = volume;
    this.options = options;
    this.name = `backup of ${volume.path} to ${options.tapePath}`;
    this.set = prepared.set;
    this.source = prepared.source;
    this.layout = prepared.layout;
    this.states = prepared.states;
    this.writer = prepared.writer;
    this.targetVolume = prepared.targetVolume;
    this.tapeLock = prepared.tapeLock;
    this.bitmap = prepared.bitmap;
    this.spool = prepared.spool;
    this.chain = prepared.chain;
    this.layoutToSave = prepared.storedLayout;
    this.targetRate = options.targetMbps ? createTargetRate(options.targetMbps) : undefined;
    this.flush = new SteppedWriteback(options.tapePath, TAPE_WRITEBACK_BYTES);
    this.plan = backupCopyPlan(this.set, this.layout, this.states, this.writer.baseOffsetBytes, options, this.targetRate);
    this.cbw = new CopyBeforeWrite({
      volume,
      set: this.set,
      plan: this.plan,
      states: this.states,
      writer: this.writer,
      bitmap: this.bitmap,
      spool: this.spool,
      targetRate: this.targetRate,
      cbwTimeoutMs: options.cbwTimeoutMs,
      onFailure: (error) => this.onCbwFailure(error),
      onDrainError: (error) => this.fail(error),
    });
    // A resumed session drains what the crash left in the spool first; those slots are its own claims.
    for (const slot of prepared.spooled ?? []) {
      assert(this.states.tryClaim(slot), `spooled slot ${slot} was restored PENDING`);
      this.cbw.drain?.add(slot, true);
    }
    this.hostWrites = new HostWriteRecorder(volume.unitCount);
    if (options.tapeFaults) injectTapeFaults(this.writer, options.tapeFaults);
    let bytesTotal = 0;
    for (const length of this.set.slots.lengths) bytesTotal += length;
    this.bytesTotal = bytesTotal;
    this.done = new Promise<BackupSummary>((resolve, reject) => {
      this.once('finished', resolve);
      this.once('aborted', reject);
    });
    // The promise is also observed through events; keep an unobserved rejection from crashing.
    this.done.catch(() => undefined);
    this.settled = this.done.then(
      (summary) => {
        this.summaryValue = summary;
      },
      (error: unknown) => {
        this.failureValue = isSnaptapeError(error)
          ? { code: error.code, message: error.message }
          : { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
      },
    );
    this.events.bridge(this, { state: 'state', progress: 'progress' });
    this.events.endWhen(this.settled);
  }

  /**
   * Starts a backup. Everything up to the interceptor's registration is synchronous, so the
   * point in time is the instant this call is made.
   */
  static start(volume: Volume, options: TapeBackupOptions): TapeBackupSession {
    const prepared = prepareNewBackup(volume, options);
    return TapeBackupSession.beginOrRelease(prepared, () => new TapeBackupSession(volume, options, prepared).begin());
  }

  /**
   * Prepares a backup without starting it (Session.start is its point in time): the tape is
   * created and locked, and mapped with the size table of this instant; nothing is registered on
   * the volume yet. Call `start()` in the same synchronous stretch: a host write in between could
   * change a track's size after its tape offset was fixed, so `start` refuses once the stretch is
   * over. A session that is never started holds its tape until `cancel()`.
   */
  static prepare(volume: Volume, options: TapeBackupOptions): TapeBackupSession {
    const prepared = prepareNewBackup(volume, options);
    const session = TapeBackupSession.beginOrRelease(prepared, () => new TapeBackupSession(volume, options, prepared));
    session.startable = true;
    queueMicrotask(() => {
      session.startable = false;
    });
    return session;
  }

  /**
   * Resumes an interrupted backup to the same point in time (backup-resume.ts says when that is
   * sound): slots still PENDING are copied from the source, and slots the crash left in the spool
   * are drained from it first.
   */
  static resume(volume: Volume, options: TapeBackupOptions): TapeBackupSession {
    const prepared = prepareResumedBackup(volume, options);
    return TapeBackupSession.beginOrRelease(prepared, () => new TapeBackupSession(volume, prepared.options, prepared).begin());
  }

  /** A session that fails to begin leaves the tape unlocked (a server lives on after it). */
  private static beginOrRelease(prepared: PreparedBackup, begin: () => TapeBackupSession): TapeBackupSession {
    try {
      return begin();
    } catch (error) {
      prepared.writer.close();
      prepared.tapeLock?.release();
      throw error;
    }
  }

  /**
   * Session.start of a prepared backup: the start instant. Refused once started (the state table),
   * and after the synchronous stretch of its `prepare`.
   */
  start(): void {
    transition(this.stateValue, 'run', this.name);
    if (!this.startable) {
      throw new SessionError(
        `Cannot start ${this.name}: it was prepared in an earlier turn, and host writes since may have changed the track sizes its tape is mapped with; cancel it and prepare again`,
        { tape: this.options.tapePath },
      );
    }
    try {
      this.begin();
    } catch (error) {
      this.writer.close();
      this.tapeLock?.release();
      throw error;
    }
  }

  /** Registers the interceptor (the start instant of a new backup) and starts the copy loop. */
  private begin(): this {
    // The checkpoint is durable before the interceptor registers, with no host write in between:
    // the units it says changed after it are exactly those written after the start instant.
    if (this.chain) {
      this.chain.tracker.checkpoint(this.chain.chain.checkpoint, { path: resolve(this.options.tapePath), volser: this.layout.plan.volser, complete: false });
    }
    this.volume.addInterceptor(this);
    this.move('run');
    // The layout and the first record, each made durable with two fsyncs (flushes of the disk's
    // cache), in a turn of their own, before the copy's: not in this stretch, where every host write waits.
    void this.afterStart();
    return this;
  }

  /**
   * What follows the start instant, each step in a turn of the event loop of its own, with the I/O
   * that arrived meanwhile (host writes) served in between. The first step needs two hops: this
   * stretch runs in the loop's poll phase, and one setImmediate would run in the check phase right
   * after it, before the poll that serves the writes held up by the start. The pool's threads start
   * first: they boot and load the copy while this thread waits for the first record's fsyncs,
   * instead of after them.
   */
  private async afterStart(): Promise<void> {
    await nextTurn();
    await nextTurn();
    const pool = this.startPool();
    if (!pool) return this.abort();
    await nextTurn();
    this.recordStart();
    await this.copyAll(pool);
  }

  /** The caller's pool, or one of the session's own started now; undefined (the session failed) if it cannot start. */
  private startPool(): CopyPool | undefined {
    const workers = this.options.workers ?? this.options.pool?.workers ?? defaultWorkerCount(DIGEST_THREADS);
    try {
      return this.options.pool ?? new CopyPool(workers, { sideThreads: DIGEST_THREADS });
    } catch (error) {
      this.fail(error instanceof SnaptapeError ? error : new IoError(`Cannot start the copy workers: ${String(error)}`, {}));
      return undefined;
    }
  }

  /** The first record (and a new backup's layout), unless a stop already wrote its own. */
  private recordStart(): void {
    if (this.recordsDecided > 0) return;
    try {
      this.persist('running');
    } catch (error) {
      // Without its record the backup could never be resumed: it stops here.
      this.fail(error instanceof SnaptapeError ? error : new IoError(`Cannot persist ${this.name}: ${String(error)}`, {}));
    }
  }

  get state(): SessionState {
    return this.stateValue;
  }

  private move(verb: SessionVerb): void {
    this.stateValue = transition(this.stateValue, verb, this.name);
    this.emit('state', this.stateValue);
  }

  // ---- the copy-before-write interceptor ------------------------------------------------------

  beforeWrite(event: WriteEvent): void {
    if (this.failure) return;
    const { unitToSlot } = this.set.slots;
    let lastSlot = -1;
    for (let u = event.firstUnit; u < event.firstUnit + event.unitCount; u++) {
      const slot = unitToSlot[u] as number;
      if (slot < 0 || slot === lastSlot) continue;
      lastSlot = slot;
      this.cbw.protect(slot);
      if (this.failure) return;
      this.guardCbw(() => this.cbw.markDurable(slot));
      if (this.failure) return;
    }
    this.guardCbw(() => this.bitmap.touch());
  }

  beforeSync(): void {
    this.writer.sync();
    this.spool?.sync();
    this.bitmap.sync();
  }

  afterWrite(event: WriteEvent): void {
    this.hostWrites.record(event);
  }

  /** Runs a step of the write hook; a failure (the bitmap cannot be written) goes to the policy. */
  private guardCbw(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.onCbwFailure(
        error instanceof SnaptapeError ? error : new IoError(`Cannot track a host write on ${this.volume.path}: ${String(error)}`, { path: this.volume.path }),
      );
    }
  }

  /** The first copy-before-write failure, if any: its policy decides every later one (latched). */
  get cbwError(): CbwErrorStatus | undefined {
    return this.cbwErrorValue;
  }

  private onCbwFailure(error: SnaptapeError): void {
    const first = this.cbwErrorValue;
    const policy = first?.policy ?? this.options.onCbwError ?? 'break-backup';
    this.cbwErrorValue = { policy, reason: first?.reason ?? error.message, count: (first?.count ?? 0) + 1 };
    if (!first) this.emit('cbw-error', this.cbwErrorValue);
    if (policy === 'break-host-write') throw error;
    // The host write goes ahead without its copy: no resume can restore this point in time.
    this.resumable = false;
    this.fail(error);
  }

  // ---- the copy loop --------------------------------------------------------------------------

  /**
   * Runs in turns of the event loop of its own after the start instant (the first record, the
   * digest pass's tables, the copy's tasks, the digest pass's task): the host's writes, on this
   * thread, wait for one step at most, never for the whole start-up. A host write meanwhile is
   * copied before it as ever. Closes `pool` at the end unless it is the caller's.
   *
   * The pool has a thread beside the copy workers for the digest pass, which follows the copy; by
   * default the copy takes a worker less than there are cores, so that the pass has one. Once the
   * copy is done, its workers' threads join the pass for the blocks left (hashing is slower than
   * copying).
   */
  private async copyAll(pool: CopyPool): Promise<void> {
    this.timer = setInterval(() => this.tick(), PROGRESS_INTERVAL_MS);
    await nextTurn();
    const digesting = this.digesting;
    try {
      // The pass's tables in a turn of their own, before the copy's tasks are queued.
      const digestPass = newBlockDigestPass(this.layout.plan, {
        tapePath: this.options.tapePath,
        baseOffsetBytes: this.writer.baseOffsetBytes,
        stateBuffer: this.states.buffer,
      });
      this.digestPass = digestPass;
      await nextTurn();
      const location = this.volume.backend.location();
      // A backend without a file location (CCKD, multi-file) is copied on this thread instead.
      const copying = runBackgroundCopy({
        plan: this.plan,
        ...(location.kind === 'file'
          ? {
              // The workers write only the file this session made (a link put at its name since is refused).
              files: { sourceFile: location, targetFile: { kind: 'file' as const, path: this.options.tapePath, identity: this.writer.identity } },
              pool: () => pool,
            }
          : {}),
        ports: () => ({ source: this.cbw.toTape.source, sink: this.cbw.toTape.sink }),
      });
      // Observed at once: it may fail (its pool destroyed) in the turn below, before it is awaited.
      copying.catch(() => undefined);
      // Queued after the copy's tasks (runScript waits for them), so it never holds a thread they wait for.
      digesting.push(this.digestTask(pool, digestPass));
      const result = await copying;
      this.copyPath = result.path;
      // The copy workers' threads are free: they join the pass for what is left of it.
      if (!result.error && this.stateValue !== 'cancelled') for (let w = 0; w < pool.workers; w++) digesting.push(this.digestTask(pool, digestPass));
      // Spooled slots reach the tape through the drain; the tape is complete only once it is empty.
      await this.cbw.drain?.idle();
      if (result.error) this.fail(errorFromData(result.error));
      if (this.failure || this.stateValue === 'cancelled') return await this.abort();
      await this.finishTape(pool, digestPass);
    } catch (error) {
      this.fail(error instanceof SnaptapeError ? error : new IoError(`Cannot run the copy workers: ${String(error)}`, {}));
      await this.abort();
    } finally {
      if (this.timer) clearInterval(this.timer);
      await this.endDigestPass();
      await this.flush.close();
      if (!this.options.pool) await pool.close();
    }
  }

  /** One task of the digest pass on the pool; a rejection (the pool destroyed) becomes its error. */
  private digestTask(pool: CopyPool, digestPass: BlockDigestShared): Promise<BlockDigestTaskResult> {
    return runBlockDigestTask(pool, digestPass).catch((error: unknown) => ({
      hashed: 0,
      waitSeconds: 0,
      hashSeconds: 0,
      error: (error instanceof SnaptapeError ? error : new IoError(`Cannot hash the tape ${this.options.tapePath}: ${String(error)}`, {})).toData(),
    }));
  }

  /** Stops the digest pass's tasks still waiting for blocks that will not come, and waits for them to end. */
  private async endDigestPass(): Promise<void> {
    if (this.digestPass) stopBlockDigestPass(this.digestPass);
    await Promise.all(this.digesting);
  }

  private async finishTape(pool: CopyPool, digestPass: BlockDigestShared): Promise<void> {
    const census = this.states.census();
    if (census[UNIT_STATE.PENDING] + census[UNIT_STATE.CLAIMED] > 0) {
      this.fail(new SessionError(`Cannot finish ${this.name}: ${census[UNIT_STATE.PENDING] + census[UNIT_STATE.CLAIMED]} blocks were not copied`, {}));
      return await this.abort();
    }
    // The point in time is fully on tape: host writes need no protection from here on.
    const copiedMs = Date.now();
    this.copiedMs = copiedMs;
    this.stopProtecting();
    this.move('complete');
    this.writer.close();
    const hashedDuringCopy = blocksHashed(digestPass);
    // The digests were made beside the copy; what is left of them is the pass's last windows.
    const digested = await Promise.all(this.digesting);
    const digestedMs = Date.now();
    const digestFailure = digested.find((d) => d.error)?.error;
    const hashed = digested.reduce((sum, d) => sum + d.hashed, 0);
    // The tape was flushed in steps during the copy: the last step's fsync has little left to push.
    await this.flush.close();
    // The digests' fold, the labels, the sync and the read-back run on a worker: host writes go on
    // meanwhile.
    const result =
      digestFailure === undefined && hashed === blockCount(digestPass)
        ? await finishTapeOnPool(pool, {
            tapePath: this.options.tapePath,
            identity: this.writer.identity,
            // The plan's bulk, its data blocks, goes in the pass's shared tables: not cloned here.
            plan: withoutBlocks(this.layout.plan),
            blocks: { offsets: digestPass.offsets, lengths: digestPass.lengths, counts: this.layout.plan.files.map((f) => f.spec.dataBlockLengths.length) },
            baseOffsetBytes: this.writer.baseOffsetBytes,
            blockDigests: digestPass.digests,
            wholeTapeSha256: this.chain !== undefined,
          })
        : {
            error:
              digestFailure ??
              new IoError(`Cannot finish the tape ${this.options.tapePath}: ${hashed} of ${blockCount(digestPass)} blocks were hashed`, {}).toData(),
          };
    this.targetVolume?.close();
    if (result.error || !result.digests || !result.verification) {
      this.fail(result.error ? errorFromData(result.error) : new IoError(`Cannot finish the tape ${this.options.tapePath}`, {}));
      return await this.abort();
    }
    this.finishedMs = Date.now();
    const phases: BackupPhases = {
      copySeconds: (copiedMs - this.startedMs) / 1000,
      blocksHashedDuringCopy: hashedDuringCopy,
      digestWaitSeconds: (digestedMs - copiedMs) / 1000,
      stepFlushes: this.flush.flushes,
      ...(result.seconds ?? { elementDigestSeconds: 0, syncSeconds: 0, readBackSeconds: 0, tapeSha256Seconds: 0 }),
    };
    const summary = this.summarize(result.digests, result.verification, result.tapeSha256, phases);
    // The record says completed before the session does: a record that cannot be written fails it.
    // The checkpoint in flight, if any, lands or is dropped first.
    await this.checkpointing;
    // A checkpoint that failed meanwhile (or during the steps above) failed the session: its record
    // says so, never completed, and it is written while the bitmap is still open.
    if (this.failure) return await this.abort();
    // The completed record is the last: no checkpoint is decided after it (the bitmap is closed).
    this.completedRecord = true;
    this.bitmap.close();
    // Its fsyncs, the checkpoint's and the map's run on libuv's pool: on this thread, behind other
    // writeback, they held a host write over 100 ms (bench/RESULTS.md, section 16).
    if (!(await this.persistCompleted(summary))) return await this.abort();
    // Only then is the checkpoint a base: a crash in between leaves the older base, never a hole.
    if (result.tapeSha256) await this.completeCheckpoint(result.tapeSha256);
    // A failure to write the map rejects the map's `final` (runBackup reports it); the backup stands.
    await this.mapValue?.writeCompleted().catch(() => undefined);
    this.move('finish');
    this.tapeLock?.release();
    this.spool?.close({ remove: true });
    this.emit('progress', this.progress());
    this.emit('finished', summary);
  }

  /** Marks the checkpoint of this tape (set at the start instant, by this or an interrupted run) complete. */
  private async completeCheckpoint(tapeSha256: string): Promise<void> {
    try {
      await trackerOf(this.volume)?.completeBackupOf(resolve(this.options.tapePath), tapeSha256);
    } catch (error) {
      // The tape is good; only its use as a base is lost (the next incremental takes an older one).
      this.emit('checkpoint-error', error);
    }
  }

  private summarize(digests: readonly string[], verification: TapeVerification, tapeSha256: string | undefined, phases: BackupPhases): BackupSummary {
    const counters = this.states.counters();
    const seconds = (Date.now() - this.startedMs) / 1000;
    const bytes = counters.bytesInOrder + counters.bytesOutOfOrder;
    return {
      tapePath: this.options.tapePath,
      source: { ...this.source, path: this.volume.path },
      elements: this.set.elements.map((e, i) => ({
        name: e.name,
        kind: e.kind,
        blocks: e.slotCount,
        bytes: this.set.slots.lengths.subarray(e.firstSlot, e.firstSlot + e.slotCount).reduce((n, l) => n + l, 0),
        digest: NEW_ELEMENT_DIGEST,
        sha256: digests[i] as string,
      })),
      copiedInOrder: counters.copiedInOrder,
      copiedOutOfOrder: counters.copiedOutOfOrder,
      bytes,
      seconds,
      mbPerSecond: seconds > 0 ? bytes / 1e6 / seconds : 0,
      copySeconds: ((this.copiedMs ?? Date.now()) - this.startedMs) / 1000,
      target:
        this.options.tapeStartBlock === undefined
          ? { kind: 'file' }
          : {
              kind: 'fba',
              firstBlock: this.options.tapeStartBlock,
              lastBlock: fbaPositionOf(this.layout.plan.sizeBytes - 1, { startBlock: this.options.tapeStartBlock, blockBytes: 512 }).block,
            },
      tapeBytes: this.layout.plan.sizeBytes,
      verification,
      phases,
      ...(tapeSha256 ? { tapeSha256 } : {}),
      ...(this.chain ? { chain: this.chain.chain } : {}),
      ...(this.cbwErrorValue ? { cbwError: this.cbwErrorValue } : {}),
      ...(this.spool ? { spool: { path: this.spool.path, bytesSpooled: this.spool.bytesSpooled } } : {}),
      ...(this.volume.geometry.kind === 'ckd' ? { sizeTable: this.volume.sizeTableOrigin } : {}),
    };
  }

  // ---- control --------------------------------------------------------------------------------

  pause(): void {
    this.move('pause');
    this.states.setControl(CONTROL.PAUSE);
    this.persist('paused');
  }

  resume(): void {
    this.move('resume');
    this.states.setControl(CONTROL.RUN);
    this.persist('running');
  }

  /** Stops the copy; the bitmap stays valid and is persisted with the record. */
  cancel(): void {
    const started = this.stateValue !== 'starting';
    this.move('cancel');
    this.states.setControl(CONTROL.CANCEL);
    // A prepared session that never started has no copy loop to end it: it ends here.
    if (!started) void this.abort();
  }

  private fail(error: SnaptapeError): void {
    if (this.failure || FINAL_STATES.has(this.stateValue)) return;
    this.failure = error;
    this.states.setControl(CONTROL.CANCEL);
    this.stopProtecting('failed', error.message);
    this.stateValue = transition(this.stateValue, 'fail', this.name);
    this.emit('state', this.stateValue);
  }

  private async abort(): Promise<void> {
    this.finishedMs ??= Date.now();
    const status: RecordStatus = this.stateValue === 'cancelled' ? 'cancelled' : 'failed';
    const reason = this.failure?.message ?? 'cancelled before the copy finished';
    this.stopProtecting(status, reason);
    // Before the tape is closed and the session says it ended: no thread reads the tape after that.
    await this.endDigestPass();
    await this.cbw.drain?.stop();
    this.writer.close();
    this.targetVolume?.close();
    this.persistSafely(status, reason);
    // A checkpoint in flight was overtaken by this record: it only removes its temp file.
    await this.checkpointing;
    this.tapeLock?.release();
    this.bitmap.close();
    this.spool?.close();
    const failure = this.failure ?? new SessionError(`Cannot complete ${this.name}: it was cancelled`, { tape: this.options.tapePath });
    this.emit(
      'aborted',
      this.recordError
        ? new SessionError(`${failure.message} (and its record could not be written: ${this.recordError})`, { tape: this.options.tapePath })
        : failure,
    );
  }

  /**
   * Ends the protection of host writes. Before the interceptor goes, the disk says exactly what is
   * on the tape or in the spool (the whole bitmap), and, for a stop, the record says so with the
   * source's mtime of this instant: a resume then needs the source unchanged since, or nothing left
   * to read from it. Without that order, a host write right after the removal could change a slot
   * the disk still calls PENDING, and a crash then would resume from the wrong bytes.
   */
  private stopProtecting(status?: RecordStatus, reason?: string): void {
    if (this.stoppedMtimeNs !== undefined) return;
    this.stoppedMtimeNs = this.sourceMtimeNs();
    if (status) this.persistSafely(status, reason);
    else this.bitmap.writeAll(this.persistedStates());
    this.volume.removeInterceptor(this);
    this.cbw.close();
  }

  private tick(): void {
    this.emit('progress', this.progress());
    const counters = this.states.counters();
    this.flush.reached(counters.bytesInOrder + counters.bytesOutOfOrder);
    if (Date.now() - this.lastCheckpointMs >= CHECKPOINT_INTERVAL_MS) {
      this.lastCheckpointMs = Date.now();
      try {
        this.checkpoint();
      } catch (error) {
        // Without its checkpoints a backup could not be resumed truthfully: it stops here.
        this.fail(error instanceof SnaptapeError ? error : new IoError(`Cannot checkpoint ${this.name}: ${String(error)}`, {}));
      }
    }
  }

  /**
   * Persists a stop. It must not throw: it runs inside a host write (a break-backup failure) and at
   * the end of the copy loop. A record that cannot be written (its folder is gone, the disk is full)
   * leaves the session without a resume, which `recordError` says.
   */
  private persistSafely(status: RecordStatus, reason?: string): void {
    try {
      this.persist(status, undefined, reason);
    } catch (error) {
      this.recordError ??= error instanceof Error ? error.message : String(error);
    }
  }

  // ---- the Session face -----------------------------------------------------------------------

  status(): SessionStatus {
    const progress = this.progress();
    return {
      kind: this.kind,
      state: this.stateValue,
      phase: this.stateValue,
      counts: { total: progress.slotsTotal, done: progress.copiedInOrder + progress.copiedOutOfOrder },
      target: this.options.tapePath,
      summary: this.summaryValue ?? null,
      failure: this.failureValue ?? null,
    };
  }

  command(verb: string): void {
    throw unknownVerb(this.name, verb, this.commands);
  }

  onEvent(listener: SessionListener): () => void {
    return this.events.add(listener);
  }

  /**
   * The session's kept track map, made on first use (runBackup and the server, at the start): it
   * keeps the final map once settled and writes it beside the tape when the backup completes
   * (`<tape>.map.json`).
   */
  trackMap(): BackupTrackMap {
    this.mapValue ??= new BackupTrackMap(this);
    return this.mapValue;
  }

  /** The map now: the kept one's, if the session has one; else sampled, with no file written. */
  view(args?: SessionArgs): TrackMapSnapshot {
    onlyArgs(args, [], `draw the map of ${this.name}`);
    return this.mapValue?.sample() ?? sampleBackupMap(this);
  }

  progress(): BackupProgress {
    const c = this.states.counters();
    const elapsedMs = (this.finishedMs ?? Date.now()) - this.startedMs;
    const bytesCopied = c.bytesInOrder + c.bytesOutOfOrder;
    const rate = elapsedMs > 0 ? bytesCopied / elapsedMs : 0;
    return {
      state: this.stateValue,
      slotsTotal: this.states.unitCount,
      copiedInOrder: c.copiedInOrder,
      copiedOutOfOrder: c.copiedOutOfOrder,
      bytesCopied,
      bytesTotal: this.bytesTotal,
      elapsedMs,
      mbPerSecond: rate / 1000,
      etaMs: rate > 0 ? Math.round((this.bytesTotal - bytesCopied) / rate) : null,
      ...(this.cbwErrorValue ? { cbwError: this.cbwErrorValue } : {}),
    };
  }

  private persist(status: RecordStatus, summary?: BackupSummary, reason?: string): void {
    this.saveLayoutOnce();
    const record = this.record(status, summary, reason);
    this.recordsDecided += 1;
    writeSessionRecord(record);
  }

  /**
   * `persist('completed')` with the record's fsyncs off the owning thread (the tape is durable
   * already). True once it is durable; false when a record decided since (a failure's) overtook
   * it, and then the session has failed. A record that cannot be written throws.
   */
  private async persistCompleted(summary: BackupSummary): Promise<boolean> {
    this.saveLayoutOnce();
    const record = this.record('completed', summary);
    const decided = (this.recordsDecided += 1);
    const landed = await writeRecordOffThread(record, () => this.recordsDecided === decided);
    if (!landed) this.fail(new SessionError(`Cannot complete ${this.name}: a later record overtook its completed one`, { tape: this.options.tapePath }));
    return landed && !this.failure;
  }

  /**
   * A checkpoint during the copy, one at a time: `persist`, with the record's fsyncs off the owning
   * thread (behind the copy's writeback one took 320 ms, and every host write waited for it). The
   * record lands unless one decided after it (a stop, the completion) was written first. A failure
   * stops the session: without its checkpoints no resume is truthful.
   */
  private checkpoint(): void {
    if (this.checkpointing || this.completedRecord) return;
    this.saveLayoutOnce();
    const status: 'running' | 'paused' = this.stateValue === 'paused' ? 'paused' : 'running';
    const record = { ...this.record(status), status };
    const decided = (this.recordsDecided += 1);
    this.checkpointing = writeRecordOffThread(record, () => this.recordsDecided === decided)
      .then(
        () => undefined,
        (error: unknown) => this.fail(error instanceof SnaptapeError ? error : new IoError(`Cannot checkpoint ${this.name}: ${String(error)}`, {})),
      )
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  /** A new backup's layout is durable before its first record, whichever record that is. */
  private saveLayoutOnce(): void {
    if (!this.layoutToSave) return;
    saveLayout(sessionRecordKey(this.options), this.layoutToSave);
    this.layoutToSave = undefined;
  }

  /** The record of this instant; the bitmap is written first (whole) unless the backup completed. */
  private record(status: RecordStatus, summary?: BackupSummary, reason?: string): SessionRecord {
    const record: SessionRecord = {
      kind: 'tape-backup',
      status,
      tapePath: sessionRecordKey(this.options),
      sourcePath: resolve(this.volume.path),
      sourceMtimeNs: this.stoppedMtimeNs ?? this.sourceMtimeNs(),
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      options: { datasets: this.options.datasets ?? null, blockRanges: this.options.blockRanges ?? null, tapeVolser: this.layout.plan.volser },
      elements: this.set.elements.map((e) => ({ name: e.name, slots: e.slotCount })),
      slotCount: this.states.unitCount,
      ...(reason !== undefined ? { reason } : {}),
      ...(this.resumable ? {} : { resumable: false }),
      ...(this.options.spoolPath !== undefined ? { spoolPath: resolve(this.options.spoolPath) } : {}),
      ...(summary !== undefined ? { summary } : {}),
    };
    if (status !== 'completed') this.bitmap.writeAll(this.persistedStates());
    return record;
  }

  /** The source's mtime in ns; "gone" when the image was removed meanwhile (no resume can match it). */
  private sourceMtimeNs(): string {
    try {
      return String(statSync(this.volume.path, { bigint: true }).mtimeNs);
    } catch {
      return 'gone';
    }
  }

  /** The states as the bitmap keeps them: a slot in the spool is SPOOLED, whatever its claim. */
  private persistedStates(): Int32Array {
    const states = this.states.snapshotStates();
    for (const slot of this.spool?.slots() ?? []) states[slot] = PERSISTED_SPOOLED;
    return states;
  }
}
