/**
 * Clone with PRECOPY, ACTIVATE and TERMINATE (technique 4). A session copies a source volume (or the
 * extents of chosen data sets) onto a destination of the same geometry, through the one copy engine:
 *
 * - CREATE (synchronous): takes a PB slot on the source (CLONE PB set for every track that takes
 *   part, PRECOPY PB clear), sets every IND bit of the destination, and registers two interceptors
 *   (stage `clone`): one on the source's write path, one on the destination's reads and writes.
 * - PRECOPY: background passes copy every PENDING track; a copy clears CLONE PB and IND and sets
 *   PRECOPY PB. A host write to a copied source track puts the bits back and reopens the track, so
 *   it is copied again (`recopies`). Passes go on until ACTIVATE.
 * - In extent mode, CREATE places the chosen data sets on the destination (in place when their
 *   tracks are free there, else first fit) or refuses a destination that cannot take them, and
 *   ACTIVATE writes their VTOC entries on the destination first (clone-catalog.ts). A unit goes to
 *   its destination track (`extent.targetUnits`) in every copy: background, before a source write,
 *   and the fetch before a destination read or write, which maps the destination track back.
 * - ACTIVATE (synchronous; the point in time): from here a source write to a track not yet copied
 *   first copies it (claim, copy, COPIED_OOO; a worker's claim is waited for), and a read or write on
 *   the destination of a track not yet copied first fetches it. The destination is usable at once;
 *   the remaining tracks are copied in the background, then the phase is `copied`.
 * - TERMINATE (only when copied): removes the interceptors and releases the PB slot and the IND
 *   column. Cancel stops a session that is not copied; the destination is then incomplete.
 *
 * Durability (clone-bitmap-file.ts): the bitmap file is kept in place, and a bit that a host write
 * needs reaches it before the write goes ahead, so `resume` (clone-resume.ts) can take the session
 * up after the process died. Error policy: a copy that fails before a host write, a fetch that
 * fails, or a bit that cannot be written fails that host I/O (the point in time cannot be kept
 * otherwise); a failed background pass fails the session.
 * Invariant: for every unit that takes part, CLONE PB is set iff its state is PENDING or CLAIMED,
 * and IND likewise; the one place that decides who copies a unit is the track-state claim.
 */
import { EventEmitter } from 'node:events';
import { assert } from '../../base/assert.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { IoError, SessionError, SnaptapeError, errorFromData } from '../../errors/snaptape-error.js';
import { BitColumns } from '../../engine/bit-columns.js';
import { owningThreadCopier, runBackgroundCopy, type OwningThreadPorts } from '../../engine/background-copy.js';
import type { CopyPath } from '../../engine/copy-loop.js';
import { createPacing, type PacingPlan } from '../../engine/copy-pacing.js';
import { newCursor, type CopyPlan, type UnitCopyMarks } from '../../engine/copy-plan.js';
import { CopyPool, defaultWorkerCount } from '../../engine/copy-pool.js';
import { CONTROL, TrackStateArray, UNIT_STATE, UNIT_STATE_NAMES } from '../../engine/track-state.js';
import { copyUnits } from '../../engine/unit-copy.js';
import { FunctionUnitSink, FunctionUnitSource } from '../../engine/unit-ports.js';
import type { Volume } from '../../volume/volume.js';
import type { WriteEvent, WriteInterceptor, WriteRange } from '../../volume/write-interceptor.js';
import { checkCloneOptions, checkGeometry, checkParticipants } from './clone-checks.js';
import { isRelocated, relocatedRuns, selectCloneUnits, type CloneExtent } from './clone-extents.js';
import { catalogCloneAtActivate, placeCloneCatalog } from './clone-catalog.js';
import { CloneMapRecorder, type CloneMapView } from './clone-map-recorder.js';
import { FINAL_CLONE_PHASES, SESSION_STATE_OF_PHASE, applyCloneVerb, cloneFlags, type CloneMachine, type ClonePhase, type CloneVerb } from './clone-phase.js';
import { cloneBitmapPath, writeCloneRecord, type CloneRecord } from './clone-record.js';
import { CloneBitmapFile } from './clone-bitmap-file.js';
import { partColumn, restoreUnit, type RestoredClone } from './clone-restore.js';
import { hostname } from 'node:os';
import { IND_COLUMN, claimDestination, columnOf, protectionBitsOf, releaseDestination, type ProtectionBitTable } from './protection-bits.js';
import { transition, type SessionState } from '../../session/session-state.js';
import type { Session, SessionArgs, SessionListener, SessionStatus } from '../../session/session.js';
import { SessionEvents } from '../../session/session-events.js';
import { onlyArgs, unknownVerb } from '../../session/session-args.js';
import type { TrackMapSnapshot } from '../../session/session-view.js';
import { sampleCloneTrackMap } from './clone-track-map.js';
import { CLONE_CHECKPOINT_MS, DEFAULT_CLONE_WAIT_MS, DEFAULT_CLONE_WORKERS, PRECOPY_IDLE_MS, type CloneOptions, type CloneStatus } from './clone-options.js';

export { DEFAULT_CLONE_WAIT_MS, PRECOPY_IDLE_MS, CLONE_CHECKPOINT_MS, DEFAULT_CLONE_WORKERS, type CloneOptions, type CloneStatus } from './clone-options.js';

let nextSessionNumber = 1;

/** The clone's verbs through Session.command. */
const CLONE_COMMANDS = ['precopy', 'activate', 'terminate'] as const;

export class CloneSession extends EventEmitter implements Session {
  // Set once.
  readonly kind = 'clone' as const;
  readonly commands: readonly string[] = CLONE_COMMANDS;
  readonly settled: Promise<void>;
  private readonly events = new SessionEvents(() => this.state);
  readonly id: string;
  readonly source: Volume;
  readonly target: Volume;
  readonly extent: CloneExtent;
  readonly states: TrackStateArray;
  private readonly options: CloneOptions;
  private readonly pb: ProtectionBitTable;
  private readonly slot: number;
  private readonly ind: BitColumns;
  private readonly extents: Int32Array;
  private readonly unitCount: number;
  /** The unit whose copy lands on each destination track, or -1 (the inverse of `extent.targetUnits`). */
  private readonly unitOfTarget: Int32Array;
  /** Set when some unit goes to another destination track: the engine relocates it. */
  private readonly relocated: boolean;
  private readonly trim: boolean;
  /** The one pacing of every pass of the background copy, and its trace (engine/copy-pacing.ts). */
  readonly pacingPlan: PacingPlan;
  /** Where the last background pass ran. */
  copyPath: CopyPath | undefined;
  private readonly createdAt: string;
  private readonly sourceHook: WriteInterceptor;
  private readonly targetHook: WriteInterceptor;
  private readonly mapRecorder: CloneMapRecorder;
  // Main thread only.
  private machine: CloneMachine = { phase: 'created', op: 'CREATE', opStatus: 'complete' };
  private opAt: string;
  private activatedAt: string | null = null;
  /** 1 for a unit still to copy at ACTIVATE (CLONE PB set): whenever it is copied, that copy is after ACTIVATE. */
  private toCopyAtActivate: Uint8Array | undefined;
  private precopyPassRunning = false;
  private hadPrecopy = false;
  private bitmapFile: CloneBitmapFile | undefined;
  private readonly synced: Uint8Array;
  private recopies = 0;
  private passes = 0;
  private copiedOnDemand = 0;
  private failure: SnaptapeError | undefined;
  private loop: Promise<void> | undefined;
  private ownPool: CopyPool | undefined;
  private released = false;
  private lastCheckpointMs = 0;

  /**
   * CREATE. Every check runs before anything is made; from the PB slot's acquisition to the
   * interceptors' registration nothing yields.
   */
  static create(source: Volume, target: Volume, options: CloneOptions = {}): CloneSession {
    const id = options.id ?? `clone-${nextSessionNumber++}`;
    checkCloneOptions(options, id);
    checkParticipants(source, target, id);
    checkGeometry(source, target, id, (options.datasets?.length ?? 0) > 0);
    const pb = protectionBitsOf(source);
    const slot = pb.freeSlot(source.path, id);
    const extent = placeCloneCatalog(source, target, selectCloneUnits(source, options.datasets, id), id);
    // Both size tables are loaded now, so ACTIVATE does not scan.
    if (target.geometry.kind === 'ckd') {
      target.trackSizes();
      source.trackSizes();
    }
    const session = new CloneSession(source, target, { ...options, id }, { pb, slot, extent });
    session.persist();
    if (options.activate) session.activate();
    else if (options.precopy) session.precopy();
    return session;
  }

  /**
   * Takes up a session whose record and durable bitmap outlived its process (clone-resume.ts checks
   * that it may, and decodes `restored`): the PB slot and the interceptors are taken again at once,
   * then the copy goes on where the file says.
   */
  static resume(source: Volume, target: Volume, restored: RestoredClone, options: CloneOptions = {}): CloneSession {
    const id = options.id ?? restored.id;
    checkCloneOptions(options, id);
    checkParticipants(source, target, id);
    checkGeometry(source, target, id, restored.extent.datasets.length > 0);
    const pb = protectionBitsOf(source);
    const slot = pb.freeSlot(source.path, id);
    if (target.geometry.kind === 'ckd') {
      target.trackSizes();
      source.trackSizes();
    }
    const session = new CloneSession(source, target, { ...options, id }, { pb, slot, extent: restored.extent, restored });
    session.persist();
    if (session.phase === 'precopy' || session.phase === 'active') session.startLoop();
    return session;
  }

  private constructor(
    source: Volume,
    target: Volume,
    options: CloneOptions & { id: string },
    parts: { pb: ProtectionBitTable; slot: number; extent: CloneExtent; restored?: RestoredClone },
  ) {
    super();
    this.settled = new Promise<void>((resolve) => this.once('released', () => resolve()));
    this.events.bridge(this, { phase: 'state', progress: 'progress' });
    this.events.endWhen(this.settled);
    const restored = parts.restored;
    this.createdAt = restored?.createdAt ?? new Date().toISOString();
    this.opAt = restored?.opAt ?? this.createdAt;
    if (restored) {
      this.machine = restored.machine;
      this.activatedAt = restored.activatedAt;
      this.hadPrecopy = restored.hadPrecopy;
      this.recopies = restored.recopies;
      this.bitmapFile = restored.file;
    }
    this.id = options.id;
    this.source = source;
    this.target = target;
    this.options = options;
    this.pb = parts.pb;
    this.slot = parts.slot;
    this.extent = parts.extent;
    this.unitCount = source.unitCount;
    this.trim = source.geometry.kind === 'ckd';
    this.relocated = isRelocated(this.extent);
    this.unitOfTarget = new Int32Array(target.unitCount).fill(-1);
    for (let u = 0; u < this.unitCount; u++) if (this.extent.included[u] === 1) this.unitOfTarget[this.extent.targetUnits[u] as number] = u;
    this.pacingPlan = createPacing({
      bytesPerSecond: (options.throttleMbps ?? 0) * 1e6,
      pauseAfterUnits: options.pauseAfter ?? 0,
      pauseMs: options.pauseMs ?? 0,
    });
    this.states = TrackStateArray.create(this.unitCount);
    this.ind = BitColumns.create(1, this.unitCount);
    this.extents = new Int32Array(new SharedArrayBuffer(this.unitCount * 4));
    this.synced = new Uint8Array(this.unitCount);
    this.mapRecorder = new CloneMapRecorder(this.unitCount);
    this.pb.acquire(this.slot, this.id);
    claimDestination(target, this.id);
    const sizes = target.geometry.kind === 'ckd' ? target.trackSizes() : undefined;
    for (let u = 0; u < this.unitCount; u++) {
      if (this.extent.included[u] !== 1) continue;
      // What the destination slot may hold now: its used size (CKD) or the whole block (FBA).
      this.extents[u] = sizes ? Math.max(sizes.get(this.extent.targetUnits[u] as number), 1) : target.backend.slotBytes;
      if (restored) {
        restoreUnit(restored, u, { states: this.states, pb: this.pb.columns, clone: this.column('clone'), precopy: this.column('precopy'), ind: this.ind });
        continue;
      }
      this.states.include(u);
      this.pb.columns.set(this.column('clone'), u);
      this.ind.set(IND_COLUMN, u);
    }
    // A resumed session after ACTIVATE: V of a track not yet copied is the source's (as at ACTIVATE).
    if (restored && this.machine.phase !== 'created' && this.machine.phase !== 'precopy') this.takeSizesAtActivate(true);
    const beforeSync = (): void => this.flushDurably();
    this.sourceHook = {
      name: `clone ${this.id} source`,
      stage: 'clone',
      beforeWrite: (e) => this.beforeSourceWrite(e),
      afterWrite: (e) => this.afterSourceWrite(e),
      beforeSync,
    };
    this.targetHook = {
      name: `clone ${this.id} destination`,
      stage: 'clone',
      beforeWrite: (e) => this.onTargetIo(e, 'write'),
      beforeRead: (r) => this.onTargetIo(r, 'read'),
      beforeSync,
    };
    source.addInterceptor(this.sourceHook);
    target.addInterceptor(this.targetHook);
  }

  private column(kind: 'clone' | 'precopy'): number {
    return columnOf(this.slot, kind);
  }

  get phase(): ClonePhase {
    return this.machine.phase;
  }

  get state(): SessionState {
    return SESSION_STATE_OF_PHASE[this.machine.phase];
  }

  private move(verb: CloneVerb): void {
    const before = this.machine;
    this.machine = applyCloneVerb(before, verb, { session: this.id, tracksLeft: this.pb.columns.count(this.column('clone')) });
    if (this.machine.op !== before.op || verb === 'copied') this.opAt = new Date().toISOString();
    this.emit('phase', this.machine.phase);
  }

  // ---- commands -------------------------------------------------------------------------------

  precopy(): void {
    this.move('precopy');
    this.hadPrecopy = true;
    this.persist();
    this.startLoop();
  }

  /** ACTIVATE: the point in time is this call. The remaining tracks are copied in the background. */
  activate(): void {
    // The verb is checked first, so a refused ACTIVATE writes no VTOC entry.
    applyCloneVerb(this.machine, 'activate', { session: this.id, tracksLeft: this.pb.columns.count(this.column('clone')) });
    catalogCloneAtActivate(this.source, this.target, this.extent, this.id);
    this.move('activate');
    this.activatedAt = this.opAt;
    // CLONE PB, as `tracksLeft` counts: a unit a worker has marked but not yet completed was copied before.
    this.toCopyAtActivate = new Uint8Array(this.unitCount);
    for (let u = 0; u < this.unitCount; u++) if (this.pb.columns.test(this.column('clone'), u)) this.toCopyAtActivate[u] = 1;
    this.takeSizesAtActivate();
    this.persist();
    this.startLoop();
  }

  /** TERMINATE: only once every track is copied; releases the PB slot and the IND column. */
  terminate(): void {
    this.move('terminate');
    this.release();
  }

  /** Stops the session: a copied one is terminated, any other is left incomplete (and says so). */
  cancel(): void {
    this.move('cancel');
    this.states.setControl(CONTROL.CANCEL);
    if (this.loop === undefined) this.release();
  }

  // ---- the Session face -----------------------------------------------------------------------

  /**
   * Session.start of a clone that CREATE left idle (`created`, shown as `starting`): its background
   * copy starts, as the PRECOPY. Refused once the clone runs (the state table).
   */
  start(): void {
    transition(this.state, 'run', `clone session ${this.id}`);
    this.precopy();
  }

  pause(): void {
    throw new SessionError(`Cannot pause clone session ${this.id}: a clone is paced (throttleMbps), not paused; cancel it to stop`, { session: this.id });
  }

  resume(): void {
    throw new SessionError(`Cannot resume clone session ${this.id}: a clone is never paused`, { session: this.id });
  }

  command(verb: string, args?: SessionArgs): void {
    if (!(CLONE_COMMANDS as readonly string[]).includes(verb)) throw unknownVerb(`clone session ${this.id}`, verb, this.commands);
    onlyArgs(args, [], `${verb} clone session ${this.id}`);
    if (verb === 'precopy') this.precopy();
    else if (verb === 'activate') this.activate();
    else this.terminate();
  }

  onEvent(listener: SessionListener): () => void {
    return this.events.add(listener);
  }

  /** The map from the clone's IND bits and track states; still true once it is released (IND stays). */
  view(args?: SessionArgs): TrackMapSnapshot {
    onlyArgs(args, [], `draw the map of clone session ${this.id}`);
    return sampleCloneTrackMap(this.mapView());
  }

  /** The clone's own record (CloneStatus) with the session's state, counts and outcome. */
  status(): CloneStatus & SessionStatus {
    const record = this.progress();
    return {
      ...record,
      kind: this.kind,
      counts: { total: record.tracksTotal, done: record.tracksTotal - record.tracksLeft },
      summary: record.phase === 'terminated' ? { ...record } : null,
      failure: record.error === null ? null : { code: 'SESSION', message: record.error },
    };
  }

  /** Resolves once the phase is `copied` (or later); rejects if the session fails or is cancelled first. */
  whenCopied(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): boolean => {
        const phase = this.machine.phase;
        if (phase === 'copied' || phase === 'terminated') resolve();
        else if (phase === 'failed' || phase === 'cancelled')
          reject(this.failure ?? new SessionError(`Cannot finish clone session ${this.id}: it was ${phase}`, { session: this.id }));
        else return false;
        return true;
      };
      if (check()) return;
      const onPhase = (): void => {
        if (check()) this.off('phase', onPhase);
      };
      this.on('phase', onPhase);
    });
  }

  // ---- interceptors ---------------------------------------------------------------------------

  private takesPart(unit: number): boolean {
    return unit < this.unitCount && this.extent.included[unit] === 1;
  }

  /**
   * Before ACTIVATE: the file says "to copy" for every track this write touches before it lands
   * (the in-memory bits follow in afterSourceWrite). After ACTIVATE: a track not yet copied is
   * copied before the host's bytes reach the source, and the file says "copied" for it, so a
   * resume never copies the rewritten track again.
   */
  private beforeSourceWrite(event: WriteEvent): void {
    const phase = this.machine.phase;
    if (phase === 'created' || phase === 'precopy') {
      for (let u = event.firstUnit; u < event.firstUnit + event.unitCount; u++) if (this.takesPart(u)) this.durable().markToCopy(u);
      return;
    }
    if (phase !== 'active') return;
    for (let u = event.firstUnit; u < event.firstUnit + event.unitCount; u++) {
      if (!this.takesPart(u)) continue;
      this.ensureCopied(u);
      this.markCopiedDurably(u);
    }
  }

  /** The file says "copied" for a unit before a host write after ACTIVATE; a unit a failed copy left is refused. */
  private markCopiedDurably(unit: number): void {
    const state = this.states.state(unit);
    if (state !== UNIT_STATE.COPIED && state !== UNIT_STATE.COPIED_OOO) {
      throw new IoError(
        `Cannot write track ${unit} of the clone session ${this.id}: its copy from ${this.source.path} to ${this.target.path} failed (it is ${UNIT_STATE_NAMES[state]})`,
        {
          path: this.target.path,
          track: unit,
          session: this.id,
        },
      );
    }
    this.durable().markCopied(unit);
  }

  private durable(): CloneBitmapFile {
    assert(this.bitmapFile !== undefined, `clone session ${this.id} has its bitmap file`);
    return this.bitmapFile;
  }

  /** The host flushed a volume of this session: the destination, then the bitmap, reach stable storage. */
  private flushDurably(): void {
    if (this.released) return;
    this.target.imageBackend.sync();
    this.bitmapFile?.flush();
  }

  /** During PRECOPY: a copied track that the host wrote is reopened, so it is copied again. */
  private afterSourceWrite(event: WriteEvent): void {
    this.mapRecorder.hostWrite(event);
    if (this.machine.phase !== 'precopy') return;
    for (let u = event.firstUnit; u < event.firstUnit + event.unitCount; u++) {
      if (!this.takesPart(u)) continue;
      // A worker may have read the track before this write landed: let it finish, then reopen.
      this.waitForClaim(u);
      const state = this.states.state(u);
      if (state !== UNIT_STATE.COPIED && state !== UNIT_STATE.COPIED_OOO) continue;
      // Bits first, then the state: a worker can claim the track only once it is PENDING again.
      this.pb.columns.clear(this.column('precopy'), u);
      this.pb.columns.set(this.column('clone'), u);
      this.ind.set(IND_COLUMN, u);
      this.synced[u] = 0;
      this.states.reopen(u);
      this.recopies++;
      this.mapRecorder.reopened(u);
    }
  }

  /** A read or write on the destination: refused before ACTIVATE, else the track is fetched first. */
  private onTargetIo(range: WriteRange, what: 'read' | 'write'): void {
    const phase = this.machine.phase;
    if (FINAL_CLONE_PHASES.has(phase)) return;
    for (let t = range.firstUnit; t < range.firstUnit + range.unitCount; t++) {
      // The unit whose copy lands on destination track t (the same one, unless relocated).
      const u = t < this.unitOfTarget.length ? (this.unitOfTarget[t] as number) : -1;
      if (u < 0) continue;
      if (phase === 'created' || phase === 'precopy') {
        throw new SessionError(
          `Cannot ${what} track ${t} of ${this.target.path}: it is the destination of clone session ${this.id}, usable after ACTIVATE (it is ${phase})`,
          {
            path: this.target.path,
            track: t,
            session: this.id,
          },
        );
      }
      this.ensureCopied(u);
      // A destination write makes a recopy wrong: the file must say "copied" before it lands.
      if (what === 'write') this.markCopiedDurably(u);
    }
  }

  private waitForClaim(unit: number): void {
    const waitMs = this.options.waitMs ?? DEFAULT_CLONE_WAIT_MS;
    if (this.states.waitWhileClaimed(unit, Date.now() + waitMs) === UNIT_STATE.CLAIMED) {
      throw new SessionError(
        `Cannot hold host I/O to track ${unit} of ${this.source.path} longer than ${waitMs} ms: clone session ${this.id} is still copying it`,
        {
          path: this.source.path,
          track: unit,
          session: this.id,
        },
      );
    }
  }

  /** The track is on the destination when this returns (copied now, or by a worker we waited for). */
  private ensureCopied(unit: number): void {
    let copied: number;
    try {
      copied = copyUnits(owningThreadCopier(this.plan(false), this.ports()), [unit], { claim: true, complete: true, outOfOrder: true }).copied;
    } catch (error) {
      throw error instanceof SnaptapeError
        ? error
        : new IoError(`Cannot copy track ${unit} from ${this.source.path} to ${this.target.path}: ${String(error)}`, { track: unit });
    }
    if (copied === 1) this.copiedOnDemand++;
    else this.waitForClaim(unit);
    this.syncTargetSize(unit);
  }

  /**
   * A precopy pass sets PRECOPY PB with CLONE PB cleared; any other copy (after ACTIVATE) clears
   * both (FIG 8, step 165): the destination's track is then the source's at ACTIVATE, not a precopy.
   */
  private marks(precopyPass: boolean): UnitCopyMarks[] {
    return [
      precopyPass
        ? { buffer: this.pb.columns.buffer, clearColumns: [this.column('clone')], setColumns: [this.column('precopy')] }
        : { buffer: this.pb.columns.buffer, clearColumns: [this.column('clone'), this.column('precopy')], setColumns: [] },
      { buffer: this.ind.buffer, clearColumns: [IND_COLUMN], setColumns: [] },
    ];
  }

  /** What the engine copies: `units` (default none: a copy on demand names its own). */
  private plan(precopyPass: boolean, units: Int32Array = new Int32Array(0)): CopyPlan {
    return {
      stateBuffer: this.states.buffer,
      units,
      cursorBuffer: newCursor(),
      source: {},
      target: {
        kind: 'slot',
        trim: this.trim,
        extentBuffer: this.extents.buffer as SharedArrayBuffer,
        ...(this.relocated ? { relocation: { targetUnits: this.extent.targetUnits, heads: this.target.ckd.heads, sourcePath: this.source.path } } : {}),
      },
      marks: this.marks(precopyPass),
      // A precopy reopens copied tracks after host writes: a read must follow the claim.
      readBeforeClaim: false,
      pacing: this.pacingPlan,
    };
  }

  /** The owning thread's ends: the source's backend, and the destination's image backend. */
  private ports(): OwningThreadPorts {
    const source = this.source.backend;
    const target = this.target.imageBackend;
    return {
      source: new FunctionUnitSource((u) => source.readUnit(u, source.slotBytes)),
      sink: new FunctionUnitSink((writes) => {
        for (const w of writes) target.writeUnit(w.targetUnit, w.data);
      }),
    };
  }

  /**
   * At ACTIVATE the destination's size table V becomes the source's for every track not yet copied
   * (its content at this instant is what will be copied), and the copied size for the others. A
   * reader that takes V before it reads (a tape backup's plan) then reads whole tracks.
   */
  private takeSizesAtActivate(resumed = false): void {
    if (this.target.geometry.kind !== 'ckd') return;
    const sourceSizes = this.source.trackSizes();
    const targetSizes = this.target.trackSizes();
    for (let u = 0; u < this.unitCount; u++) {
      if (this.extent.included[u] !== 1) continue;
      const state = this.states.state(u);
      if (state === UNIT_STATE.PENDING || state === UNIT_STATE.CLAIMED) {
        targetSizes.set(this.extent.targetUnits[u] as number, sourceSizes.get(u));
        this.synced[u] = 1;
      } else if (resumed) {
        // Copied before the process died: V was rebuilt from the destination's own tracks.
        this.synced[u] = 1;
      } else {
        this.syncTargetSize(u);
      }
    }
  }

  /** The destination's size table V learns a copied track's size before the track is used. */
  private syncTargetSize(unit: number): void {
    if (this.synced[unit] === 1 || this.target.geometry.kind !== 'ckd') return;
    const state = this.states.state(unit);
    if (state !== UNIT_STATE.COPIED && state !== UNIT_STATE.COPIED_OOO) return;
    const used = Atomics.load(this.extents, unit);
    // An all-zero slot does not decode: V counts such a track as its whole slot (track-size-table.ts).
    this.target.trackSizes().set(this.extent.targetUnits[unit] as number, used > 0 ? used : this.target.backend.slotBytes);
    this.synced[unit] = 1;
  }

  // ---- the background copy --------------------------------------------------------------------

  private startLoop(): void {
    this.loop ??= this.runLoop().finally(() => {
      if (this.ownPool) void this.ownPool.close();
      try {
        if (FINAL_CLONE_PHASES.has(this.machine.phase)) this.release();
      } catch (error) {
        // No caller to tell (a cancel returned long ago): the record stays as last written, which
        // never says complete unless the copy was, and a failed write must not crash the process.
        if (!(error instanceof SnaptapeError)) throw error;
      }
    });
  }

  private pendingUnits(): Int32Array {
    const pending: number[] = [];
    for (let u = 0; u < this.unitCount; u++) if (this.states.state(u) === UNIT_STATE.PENDING) pending.push(u);
    return Int32Array.from(pending);
  }

  private pool(): CopyPool {
    if (this.options.pool) return this.options.pool;
    this.ownPool ??= new CopyPool(this.options.workers ?? Math.min(DEFAULT_CLONE_WORKERS, defaultWorkerCount()));
    return this.ownPool;
  }

  /** Passes until the copy is done after ACTIVATE; bounded by ACTIVATE (or cancel) during PRECOPY. */
  private async runLoop(): Promise<void> {
    try {
      while (this.machine.phase === 'precopy' || this.machine.phase === 'active') {
        const pending = this.pendingUnits();
        if (pending.length === 0) {
          if (this.machine.phase === 'active' && this.states.census()[UNIT_STATE.CLAIMED] === 0) return this.finishCopy();
          await sleep(PRECOPY_IDLE_MS);
          continue;
        }
        const precopyPass = this.machine.phase === 'precopy';
        this.precopyPassRunning = precopyPass;
        const source = this.source.backend.location();
        const target = this.target.imageBackend.location();
        const result = await runBackgroundCopy({
          plan: this.plan(precopyPass, pending),
          // Both images files at fixed offsets: the workers copy; else this thread, a cylinder at a time.
          ...(source.kind === 'file' && target.kind === 'file' ? { files: { sourceFile: source, targetFile: target }, pool: () => this.pool() } : {}),
          ports: () => this.ports(),
        });
        this.copyPath = result.path;
        this.passes++;
        this.precopyPassRunning = false;
        if (precopyPass) this.clearPrecopyCopiedAfterActivate();
        if (result.error) throw errorFromData(result.error);
        this.emit('progress', this.progress());
        if (Date.now() - this.lastCheckpointMs >= (this.options.checkpointMs ?? CLONE_CHECKPOINT_MS) && !FINAL_CLONE_PHASES.has(this.machine.phase))
          this.persist();
      }
    } catch (error) {
      this.fail(error instanceof SnaptapeError ? error : new IoError(`Cannot copy clone session ${this.id}: ${String(error)}`, { session: this.id }));
    }
  }

  private finishCopy(): void {
    const conflicts = this.pbConflicts();
    const left = this.pb.columns.count(this.column('clone')) + this.ind.count(IND_COLUMN);
    if (conflicts > 0 || left > 0) {
      this.fail(
        new SessionError(`Cannot complete clone session ${this.id}: ${conflicts} tracks have both PB bits set and ${left} CLONE PB or IND bits are still set`, {
          session: this.id,
        }),
      );
      return;
    }
    for (let u = 0; u < this.unitCount; u++) if (this.extent.included[u] === 1) this.syncTargetSize(u);
    this.move('copied');
    this.persist();
  }

  private fail(error: SnaptapeError): void {
    if (FINAL_CLONE_PHASES.has(this.machine.phase)) return;
    this.failure = error;
    this.states.setControl(CONTROL.CANCEL);
    this.move('fail');
    if (this.loop === undefined) this.release();
  }

  /** Removes the interceptors, persists the final record, and frees the PB slot and the destination. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.source.removeInterceptor(this.sourceHook);
    this.target.removeInterceptor(this.targetHook);
    try {
      this.persist();
    } finally {
      // The slot and the destination are freed even when the final record cannot be written.
      this.bitmapFile?.close();
      this.pb.release(this.slot, this.id);
      releaseDestination(this.target, this.id);
      this.emit('released');
    }
  }

  // ---- status and record ----------------------------------------------------------------------

  /** What the live track map reads (clone-track-map.ts). */
  mapView(): CloneMapView {
    return {
      id: this.id,
      geometry: this.source.geometry,
      included: this.extent.included,
      states: this.states,
      ind: this.ind,
      indColumn: IND_COLUMN,
      recorder: this.mapRecorder,
    };
  }

  /**
   * Step 165 for a precopy pass that was in flight at ACTIVATE: its marks were fixed when it
   * started, so the tracks it copied after ACTIVATE got PRECOPY PB; those copies are after ACTIVATE.
   */
  private clearPrecopyCopiedAfterActivate(): void {
    const after = this.toCopyAtActivate;
    if (!after) return;
    const precopy = this.column('precopy');
    for (let u = 0; u < this.unitCount; u++) {
      if (after[u] !== 1 || !this.pb.columns.test(precopy, u)) continue;
      const state = this.states.state(u);
      if (state === UNIT_STATE.COPIED || state === UNIT_STATE.COPIED_OOO) this.pb.columns.clear(precopy, u);
    }
  }

  /** Tracks the destination holds from the precopy: PRECOPY PB, less any a pass in flight at ACTIVATE set since. */
  private precopiedCount(): number {
    const after = this.toCopyAtActivate;
    // With no precopy pass running, the column is exact (the pass's tracks were cleared when it returned).
    if (!after || !this.precopyPassRunning) return this.pb.columns.count(this.column('precopy'));
    let n = 0;
    for (let u = 0; u < this.unitCount; u++) if (after[u] !== 1 && this.pb.columns.test(this.column('precopy'), u)) n++;
    return n;
  }

  private pbConflicts(): number {
    let n = 0;
    for (let u = 0; u < this.unitCount; u++) {
      if (this.pb.columns.test(this.column('clone'), u) && this.pb.columns.test(this.column('precopy'), u)) n++;
    }
    return n;
  }

  /** The clone's own record: what the control API shows as its progress and the CLI prints. */
  progress(): CloneStatus {
    const counters = this.states.counters();
    const conflicts = this.pbConflicts();
    return {
      id: this.id,
      source: this.source.path,
      target: this.target.path,
      phase: this.machine.phase,
      state: this.state,
      flags: cloneFlags(this.machine.phase, this.hadPrecopy),
      op: this.machine.op,
      opStatus: this.machine.opStatus,
      opAt: this.opAt,
      activatedAt: this.activatedAt,
      datasets: this.extent.datasets,
      tracksTotal: this.extent.includedCount,
      tracksLeft: this.pb.columns.count(this.column('clone')),
      indirect: this.ind.count(IND_COLUMN),
      precopied: this.precopiedCount(),
      pbConflicts: conflicts,
      recopies: this.recopies,
      passes: this.passes,
      copiedInBackground: counters.copiedInOrder,
      copiedOnDemand: this.copiedOnDemand,
      bytesCopied: counters.bytesInOrder + counters.bytesOutOfOrder,
      error: this.failure?.message ?? (conflicts > 0 ? `${conflicts} tracks have both CLONE and PRECOPY PB set` : null),
    };
  }

  private persist(): void {
    this.lastCheckpointMs = Date.now();
    this.clearPrecopyCopiedAfterActivate();
    const s = this.progress();
    const complete = s.phase === 'copied' || s.phase === 'terminated';
    const record: CloneRecord = {
      kind: 'clone',
      id: s.id,
      source: s.source,
      target: s.target,
      phase: s.phase,
      flags: s.flags,
      op: s.op,
      opStatus: s.opStatus,
      opAt: s.opAt,
      createdAt: this.createdAt,
      activatedAt: s.activatedAt,
      updatedAt: new Date().toISOString(),
      datasets: s.datasets,
      ...(this.relocated ? { relocated: relocatedRuns(this.extent) } : {}),
      tracksTotal: s.tracksTotal,
      tracksLeft: s.tracksLeft,
      recopies: s.recopies,
      complete,
      ...(s.error !== null ? { reason: s.error } : {}),
      owner: { pid: process.pid, host: hostname() },
    };
    const columns = [
      this.pb.columns.snapshotColumn(this.column('clone')),
      this.pb.columns.snapshotColumn(this.column('precopy')),
      this.ind.snapshotColumn(IND_COLUMN),
      partColumn(this.extent.included),
    ];
    // The destination before a record that says complete: the record never claims tracks a power loss would take back.
    if (complete) this.target.imageBackend.sync();
    // The bitmap before the record: a record never says more than the bits on file.
    if (this.bitmapFile) this.bitmapFile.writeColumns(s.phase, columns);
    else this.bitmapFile = CloneBitmapFile.create(cloneBitmapPath(this.target.path), { unitCount: this.unitCount, phase: s.phase, columns });
    writeCloneRecord(record);
  }
}
