/**
 * MirrorSession: a primary volume with up to 3 secondaries (issue 7), as a node on the volume's
 * write chain (stage 'mirror'). The track-status table (track-status-table.ts) has one validity bit
 * per track per mirror; it is persisted in `<primary>.mirror` (mirror-state-file.ts).
 *
 * Write path, per mirror, by link state (mirror-link-state.ts):
 * - live (COPY, ONGOING, BACKUP RETURN): afterWrite sends the whole units the write touched to the
 *   secondary and returns only when it has them (local: written through its Volume; remote: the
 *   link worker, waited for with Atomics.wait). A write an NBD client sends is therefore replied to
 *   only after every connected secondary has it. Sent units become valid; a failure or timeout
 *   clears their bits durably and the mirror goes SUSPENDED (it stays behind);
 * - SUSPENDED, BACKUP: beforeWrite clears the units' bits and makes that durable before the
 *   primary is written, so the file never claims a track that a secondary lacks.
 * Background copy (initial COPY and BACKUP RETURN): a copy run per secondary through the copy
 * engine on the owning thread (`runBackgroundCopy`), over a track-state array whose PENDING units
 * are the tracks invalid when the run began: a batch (a cylinder, or 1 MiB of FBA blocks) read and
 * written as one run, then a yield so that host writes interleave, paced as the options say (pause
 * after M tracks, a rate cap). A host write to a track the run has not reached claims it
 * (COPIED_OOO), so the run skips it: the track was sent by normal mirroring instead of its copy.
 * Everything runs on the owning thread, so a batch is never read while a host write is half made.
 * To a remote secondary up to three batches are in flight (the link channel's slots): their tracks
 * stay claimed, and become valid only when the secondary answers; a host write to one of them is
 * sent only after that answer (link-channel.ts), so the older copy never lands after it. A track
 * whose status byte is impossible (M1 invalid, or a bit of an unconfigured mirror) is reported,
 * never copied.
 * A host write's own units go through the engine's unit copy too (never paced).
 *
 * Life cycle: `create` (new state file, every secondary in COPY), `resume` (state file read; live
 * mirrors start SUSPENDED and reconnect; after an unclean stop their bits are all invalid),
 * `detach` (server shutdown: links closed, state written CLEAN; the node stays on the chain and
 * only marks bits, durably, until the volume closes), `remove` (off the chain, state file deleted).
 */
import { SteppedWriteback } from '../../base/stepped-writeback.js';
import { EventEmitter } from 'node:events';
import { assert } from '../../base/assert.js';
import { SessionError, UsageError } from '../../errors/snaptape-error.js';
import { runBackgroundCopy, type OwningThreadPorts } from '../../engine/background-copy.js';
import { COPY_BATCH_UNITS, copyBatchUnits } from '../../engine/copy-loop.js';
import { createPacing, type PacingPlan } from '../../engine/copy-pacing.js';
import { newCursor, type CopyPlan, type SlotTarget } from '../../engine/copy-plan.js';
import { CONTROL, TrackStateArray } from '../../engine/track-state.js';
import { copyUnits, type UnitCopier } from '../../engine/unit-copy.js';
import { FunctionUnitSink, RunUnitSource, isDenseRun, slotRuns, type UnitWrite } from '../../engine/unit-ports.js';
import type { Volume } from '../../volume/volume.js';
import type { WriteEvent, WriteInterceptor } from '../../volume/write-interceptor.js';
import { LinkChannel, type UnitImage } from './link-channel.js';
import type { FromWorker } from './link-channel-layout.js';
import { COPYING_STATES, LIVE_STATES, linkTransition, type LinkEvent } from './mirror-link-state.js';
import { LINK_TIMEOUT_MS, MAX_SECONDARIES, MIRROR_WRITEBACK_BYTES, PERSIST_INTERVAL_MS, RECONNECT_INTERVAL_MS } from './mirror-limits.js';
import { describeSecondary, newSecondary, selectCopyUnits, type Secondary } from './mirror-secondary.js';
import { MirrorStateFile, isUnknownPrimaryTag, mirrorFilePath, mirrorPrimaryTag, type StoredMirror } from './mirror-state-file.js';
import { PRIMARY_BIT } from './mirror-state-layout.js';
import { checkSecondaryHoldsNoData, openLocalSecondary, parseTarget, remoteAddress, type TargetSpec } from './mirror-targets.js';
import type { MirrorSessionStatus, MirrorStatus } from './mirror-types.js';
import { mirrorBit, TrackStatusTable } from './track-status-table.js';
import { MirrorMapRecorder, type MirrorMapView } from './mirror-map-recorder.js';
import { transition, type SessionState } from '../../session/session-state.js';
import type { Session, SessionArgs, SessionListener, SessionStatus } from '../../session/session.js';
import { SessionEvents } from '../../session/session-events.js';
import { onlyArgs, stringArg, unknownVerb } from '../../session/session-args.js';
import type { TrackMapSnapshot } from '../../session/session-view.js';
import { defaultMapMirror, sampleMirrorTrackMap } from './mirror-track-map.js';
import { SecondarySplitRecord } from './secondary-split.js';
import { secondaryRolePath } from '../../volume/secondary-role-file.js';
import { localSecondaryOwner, localSecondaryWrites, protectLocalSecondary, releaseLocalSecondary, splitLocalSecondary } from './local-secondary-role.js';

/** The mirror's verbs through Session.command; `mirror` (M2..M4) names one secondary of split and rejoin. */
const MIRROR_COMMANDS = ['split', 'rejoin', 'detach', 'remove'] as const;

export interface MirrorSessionOptions {
  /** How the session's own refusals name it (the server's "session mirror-1"); default "the mirror of <volume>". */
  readonly sessionName?: string;
  /** The name status reports (the served export name); default the image path. */
  readonly volumeName?: string;
  /** Remote link timeout (tests shorten it). */
  readonly linkTimeoutMs?: number;
  /**
   * Throttle: pause this long after each cylinder the background copy sends (default 0: yield to
   * host writes only). Shorthand for `pauseAfter` one cylinder, `pauseMs` this; those win if given.
   */
  readonly resyncPauseMs?: number;
  /** Pause the background copy as a whole after every this many tracks copied (0: never). */
  readonly pauseAfter?: number;
  /** Length of that pause (default DEFAULT_MIRROR_PAUSE_MS). */
  readonly pauseMs?: number;
  /** Cap of the background copy's rate (all secondaries copying together), MB/s (10^6 bytes). */
  readonly throttleMbps?: number;
  /** Create onto a local secondary whose VTOC lists data sets (they are overwritten). */
  readonly force?: boolean;
}

/**
 * What a host write's copy sends to a link: the same unit of the secondary, with its used bytes
 * found by a scan (`trim`) but no extent kept, so the whole slot is written: the link sends the
 * used bytes and a zero tail.
 */
const REMOTE_TARGET: SlotTarget = { kind: 'slot', trim: true };
/**
 * Whole slots, as the primary holds them, with each track's used bytes from the primary's size
 * table V, which covers every byte that may be non-zero (a rebuilt table too: its scan counts raw
 * bytes past a track's end marker), so no slot is scanned. A local secondary then writes of each
 * track only what may differ (`writeLocal`); a remote one is sent a dense run whole and a sparse
 * run as used bytes and zero tails (`linkImages`).
 */
const LOCAL_TARGET: SlotTarget = { kind: 'slot', trim: false };
const COPY_TARGET = LOCAL_TARGET;

/**
 * A unit as sent over a link: the slot up to its last non-zero byte, and a zero tail. A whole slot
 * keeps its buffer: a view per unit cost about 50 ms of the owning thread per 100 MB of FBA blocks.
 */
function unitImage(w: UnitWrite): UnitImage {
  const data = w.usedBytes === w.data.length ? w.data : w.data.subarray(0, w.usedBytes);
  return { unit: w.unit, data, zeroTail: w.data.length - w.usedBytes };
}

/**
 * A batch of the background copy as sent over a link. A run of consecutive units that is dense
 * (isDenseRun, the rule the primary's read of the run follows: a cylinder of full tracks, 1 MiB of
 * FBA blocks) goes as whole slots: one NBD WRITE per batch. A sparse run goes as each track's used
 * bytes and a zero fill of the rest of its slot, which the link worker sends as one zero fill of
 * the run, answered, then a WRITE per track (link-requests.ts): the link carries little more than
 * the used bytes, and the secondary's server writes the zeros only where its own track may hold
 * non-zero bytes (Volume.zeroFlat), so a sparse primary keeps a remote secondary sparse. Decision:
 * for sparse tracks, more requests (small ones, pipelined) against far fewer bytes on the link and
 * on the secondary's disk.
 */
function linkImages(writes: readonly UnitWrite[]): UnitImage[] {
  const images: UnitImage[] = [];
  for (let k = 0; k < writes.length;) {
    let last = k;
    while (last + 1 < writes.length && (writes[last + 1] as UnitWrite).unit === (writes[last] as UnitWrite).unit + 1) last++;
    let used = 0;
    let span = 0;
    for (let i = k; i <= last; i++) {
      used += (writes[i] as UnitWrite).usedBytes;
      span += (writes[i] as UnitWrite).data.length;
    }
    const dense = isDenseRun(used, span);
    for (let i = k; i <= last; i++) {
      const w = writes[i] as UnitWrite;
      images.push(dense ? { unit: w.unit, data: w.data, zeroTail: 0 } : unitImage(w));
    }
    k = last + 1;
  }
  return images;
}

/** A link channel started before its session exists: its events go to `deliver` once the session sets it. */
interface EarlyLink {
  readonly channel: LinkChannel;
  deliver: ((event: FromWorker) => void) | undefined;
}

function earlyLink(options: MirrorSessionOptions): EarlyLink {
  const link: EarlyLink = {
    deliver: undefined,
    channel: new LinkChannel((event) => link.deliver?.(event), { timeoutMs: options.linkTimeoutMs ?? LINK_TIMEOUT_MS }),
  };
  return link;
}

/** Pause after `pauseAfter` tracks when no `pauseMs` is given: the tape backup's default. */
export const DEFAULT_MIRROR_PAUSE_MS = 5;

/** The pacing of a mirror's background copy, from its options; a bad value is a usage error. */
function pacingOptions(options: MirrorSessionOptions, path: string): { bytesPerSecond: number; pauseAfterUnits: number; pauseMs: number } {
  const bad = (what: string): never => {
    throw new UsageError(`Cannot mirror ${path}: ${what}`, { path });
  };
  const count = (value: number | undefined, name: string): number | undefined => {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0)) bad(`${name} ${value} is not a whole number`);
    return value;
  };
  const pauseAfter = count(options.pauseAfter, 'pause-after');
  const pauseMs = count(options.pauseMs, 'pause-ms');
  const resyncPauseMs = count(options.resyncPauseMs, 'resync pause');
  if (options.throttleMbps !== undefined && !(Number.isFinite(options.throttleMbps) && options.throttleMbps > 0))
    bad(`a throttle of ${options.throttleMbps} MB/s is not a rate above 0`);
  const byResync = resyncPauseMs !== undefined && resyncPauseMs > 0;
  return {
    bytesPerSecond: (options.throttleMbps ?? 0) * 1e6,
    pauseAfterUnits: pauseAfter ?? (byResync ? COPY_BATCH_UNITS : 0),
    pauseMs: pauseMs ?? (byResync ? resyncPauseMs : DEFAULT_MIRROR_PAUSE_MS),
  };
}

export class MirrorSession extends EventEmitter implements WriteInterceptor, Session {
  // Set once.
  readonly kind = 'mirror' as const;
  readonly commands: readonly string[] = MIRROR_COMMANDS;
  readonly settled: Promise<void>;
  private readonly settle: () => void;
  private readonly events = new SessionEvents(() => this.sessionState);
  readonly name = 'mirror';
  readonly stage = 'mirror' as const;
  readonly volume: Volume;
  readonly volumeName: string;
  private readonly file: MirrorStateFile;
  private readonly table: TrackStatusTable;
  private readonly secondaries: readonly Secondary[];
  private readonly recoveredUnclean: boolean;
  private readonly channel: LinkChannel | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly linkTimeoutMs: number;
  private readonly pacingOptions: { bytesPerSecond: number; pauseAfterUnits: number; pauseMs: number };
  /** A host write's unit copy neither claims nor completes here: the host holds its units. */
  private readonly hostWriteStates = TrackStateArray.create(0);
  private readonly mapRecorder: MirrorMapRecorder;
  /** Per secondary (by mirror number): splits taken by its own server, and reconnects (secondary-split.ts). */
  private readonly secondarySplits = new Map<number, SecondarySplitRecord>();
  private readonly label: string;
  // Main thread only.
  private bitsDirty = false;
  /** The pacing the running copy runs share, so that it holds for the mirror's copy as a whole. */
  private sharedPacing: PacingPlan | undefined;
  private detached = false;
  private removed = false;
  /** The session's state (session-state.ts): running while mirroring; a cancel (detach) or a remove ends it. */
  private sessionState: SessionState = 'starting';

  private constructor(
    volume: Volume,
    file: MirrorStateFile,
    parts: { table: TrackStatusTable; mirrors: readonly StoredMirror[]; unclean: boolean; link?: EarlyLink },
    options: MirrorSessionOptions,
  ) {
    super();
    let settle = (): void => undefined;
    this.settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.settle = settle;
    this.events.bridge(this, { state: 'state', progress: 'progress' });
    this.events.endWhen(this.settled);
    this.volume = volume;
    this.volumeName = options.volumeName ?? volume.path;
    this.label = options.sessionName ?? `the mirror of ${this.volumeName}`;
    this.file = file;
    this.table = parts.table;
    this.recoveredUnclean = parts.unclean;
    this.pacingOptions = pacingOptions(options, volume.path);
    this.secondaries = parts.mirrors.map((m, i) => newSecondary(m, i));
    this.mapRecorder = new MirrorMapRecorder(
      volume.unitCount,
      this.secondaries.map((s) => s.mirror),
    );
    const needsChannel = this.secondaries.some((s) => s.spec.kind === 'remote');
    this.linkTimeoutMs = options.linkTimeoutMs ?? LINK_TIMEOUT_MS;
    const link = parts.link ?? (needsChannel ? earlyLink(options) : undefined);
    if (link) link.deliver = (event) => this.onLinkEvent(event);
    this.channel = link?.channel;
  }

  /** Mirrors `volume` onto `targets` (paths or host:port/export); every secondary starts in COPY. */
  static create(volume: Volume, targets: readonly string[], options: MirrorSessionOptions = {}): MirrorSession {
    const session = MirrorSession.prepare(volume, targets, options);
    session.start();
    return session;
  }

  /**
   * Checks the secondaries and writes the state file, without mirroring yet: `start()` puts the
   * mirror on the write chain and starts the initial copy.
   */
  static prepare(volume: Volume, targets: readonly string[], options: MirrorSessionOptions = {}): MirrorSession {
    if (volume.readOnly) throw new UsageError(`Cannot mirror ${volume.path}: it is open read-only`, { path: volume.path });
    pacingOptions(options, volume.path);
    if (targets.length < 1 || targets.length > MAX_SECONDARIES)
      throw new UsageError(`Cannot mirror ${volume.path} onto ${targets.length} secondaries: give 1-${MAX_SECONDARIES}`, { path: volume.path });
    const specs = targets.map(parseTarget);
    if (new Set(specs.map((s) => s.target)).size !== specs.length)
      throw new UsageError(`Cannot mirror ${volume.path}: a secondary is named twice`, { path: volume.path });
    // The link worker starts now, while the secondaries are checked and the state file is written:
    // its start (a thread and its modules) is most of the time before a remote copy can begin.
    const link = specs.some((s) => s.kind === 'remote') ? earlyLink(options) : undefined;
    try {
      return MirrorSession.prepareWith(volume, specs, options, link);
    } catch (error) {
      void link?.channel.close();
      throw error;
    }
  }

  private static prepareWith(volume: Volume, specs: readonly TargetSpec[], options: MirrorSessionOptions, link: EarlyLink | undefined): MirrorSession {
    // Local secondaries are checked before anything is written: their shape, and (without force)
    // that they hold no data sets the first copy would overwrite.
    for (const spec of specs) {
      if (spec.kind !== 'local') continue;
      const secondary = openLocalSecondary(spec.target, volume);
      try {
        if (!options.force) checkSecondaryHoldsNoData(secondary, volume);
      } finally {
        secondary.close();
      }
    }
    const table = TrackStatusTable.primaryOnly(volume.unitCount);
    const mirrors = specs.map((s): StoredMirror => ({ ...s, linkState: 'COPY', splitCount: 0 }));
    const primaryTag = mirrorPrimaryTag(volume.path);
    const file = MirrorStateFile.create(mirrorFilePath(volume.path), { slotBytes: volume.backend.slotBytes, mirrors, table, primaryTag });
    for (const spec of specs) if (spec.kind === 'local') protectLocalSecondary(spec.target, volume.unitCount, primaryTag);
    return new MirrorSession(volume, file, { table, mirrors, unclean: false, ...(link ? { link } : {}) }, options);
  }

  /** Takes up the mirror described by `<volume>.mirror` (after a server restart). */
  static resume(volume: Volume, options: MirrorSessionOptions = {}): MirrorSession {
    pacingOptions(options, volume.path);
    const { file, state } = MirrorStateFile.open(mirrorFilePath(volume.path));
    // The file beside one image may have been written for another (the primary and its state file
    // copied, or moved, or a file put there): its secondaries are that primary's, never this one's.
    const tag = mirrorPrimaryTag(volume.path);
    if (isUnknownPrimaryTag(state.primaryTag)) file.adoptPrimary(tag);
    else if (!state.primaryTag.equals(tag)) {
      file.close();
      throw new UsageError(
        `Cannot resume the mirror of ${volume.path}: its state file ${file.path} was written for another primary image (a copy or a move of it, or a file put there), whose secondaries (${state.mirrors.map((m) => m.target).join(', ')}) are not this image's; remove ${file.path} to use the image unmirrored`,
        { path: volume.path, stateFile: file.path },
      );
    }
    if (state.table.unitCount !== volume.unitCount || state.slotBytes !== volume.backend.slotBytes) {
      file.close();
      throw new UsageError(`Cannot resume the mirror of ${volume.path}: its state file describes ${state.table.unitCount} units of ${state.slotBytes} bytes`, {
        path: volume.path,
      });
    }
    // A local secondary carries its role file, which says whose it is, from the mirror's creation to
    // its removal: an image without one is nobody's secondary, one with another primary's tag is that
    // primary's (a state file put beside the primary may name any image).
    try {
      for (const m of state.mirrors) if (m.kind === 'local') checkLocalSecondaryIsOurs(volume, file.path, m.target, tag);
    } catch (error) {
      file.close();
      throw error;
    }
    const mirrors = state.mirrors.map((m, i): StoredMirror => {
      // After an unclean stop a live mirror may lack a write that was in flight: trust none of its bits.
      if (!state.clean && LIVE_STATES.has(m.linkState)) state.table.invalidateAll(i + 2);
      return { ...m, linkState: linkTransition(m.linkState, 'restart', { volume: volume.path, mirror: `M${i + 2}` }) };
    });
    const session = new MirrorSession(volume, file, { table: state.table, mirrors, unclean: !state.clean }, options);
    session.start();
    return session;
  }

  // ---- the Session face -----------------------------------------------------------------------

  /** Session.start: on the write chain, the initial copy (or the resync of a resumed mirror) starts. */
  start(): void {
    this.sessionState = transition(this.sessionState, 'run', this.label);
    this.attach();
    this.events.emit('state');
  }

  pause(): void {
    throw new SessionError(`Cannot pause ${this.label}: a mirror cannot stop propagating writes (split it instead)`, { volume: this.volumeName });
  }

  resume(): void {
    throw new SessionError(`Cannot resume ${this.label}: it is never paused`, { volume: this.volumeName });
  }

  /** Detaches (the state file stays, a restart resumes it): the session ends `cancelled`. */
  cancel(): void {
    this.sessionState = transition(this.sessionState, 'cancel', this.label);
    this.events.emit('state');
    void this.detach().finally(() => this.settle());
  }

  /** split / rejoin act on the secondaries (`args.mirror`, else all); detach is `cancel`; remove ends the session `completed`. */
  command(verb: string, args?: SessionArgs): void {
    if (!(MIRROR_COMMANDS as readonly string[]).includes(verb)) throw unknownVerb(this.label, verb, this.commands);
    onlyArgs(args, verb === 'split' || verb === 'rejoin' ? ['mirror'] : [], `${verb} ${this.label}`);
    if (this.sessionState !== 'running')
      throw new SessionError(`Cannot ${verb} ${this.label}: it is ${this.sessionState}`, { volume: this.volumeName, state: this.sessionState });
    const mirror = stringArg(args, 'mirror', `${verb} ${this.label}`);
    if (verb === 'split') this.split(mirror);
    else if (verb === 'rejoin') this.rejoin(mirror);
    else if (verb === 'detach') this.cancel();
    else {
      this.sessionState = transition(transition(this.sessionState, 'complete', this.label), 'finish', this.label);
      this.events.emit('state');
      void this.remove().finally(() => this.settle());
    }
  }

  onEvent(listener: SessionListener): () => void {
    return this.events.add(listener);
  }

  /** One secondary's map (`args.mirror`, else the one being copied or out of sync). */
  view(args?: SessionArgs): TrackMapSnapshot {
    onlyArgs(args, ['mirror'], `draw the map of ${this.label}`);
    const mirror = (stringArg(args, 'mirror', `draw the map of ${this.label}`) ?? defaultMapMirror(this.progress())).toUpperCase();
    const names = this.secondaries.map((s) => s.name);
    if (!names.includes(mirror))
      throw new UsageError(`Cannot draw the map of mirror ${mirror} of ${this.label}: its mirrors are ${names.join(', ')}`, {
        volume: this.volumeName,
        mirror,
      });
    return sampleMirrorTrackMap(this.mapView(mirror));
  }

  /** The mirror's own record (MirrorSessionStatus) with the session's state, counts and target. */
  status(): MirrorSessionStatus & SessionStatus {
    const record = this.progress();
    const total = record.unitCount * record.mirrors.length;
    const invalid = record.mirrors.reduce((n, m) => n + m.invalidTracks, 0);
    return {
      ...record,
      kind: this.kind,
      state: this.sessionState,
      phase: record.mirrors.map((m) => `${m.mirror} ${m.state}`).join(', '),
      counts: { total, done: total - invalid },
      target: record.mirrors.map((m) => m.target).join(', '),
      summary: null,
      failure: null,
    };
  }

  private attach(): this {
    this.persistAll();
    this.volume.addInterceptor(this);
    for (const s of this.secondaries) {
      // A local secondary not split is protected; writes it recorded (a crash inside a rejoin) are resent.
      if (s.spec.kind === 'local' && s.state !== 'BACKUP') {
        try {
          this.takeSecondaryWrites(s);
        } catch (error) {
          // A secondary that is gone cannot be opened either: the mirror waits for it, as for any link.
          s.lastError = error instanceof Error ? error.message : String(error);
        }
      }
      if (COPYING_STATES.has(s.state)) this.startCopy(s);
      if (s.state !== 'BACKUP') this.connect(s);
    }
    const reconnect = setInterval(() => this.reconnectDown(), RECONNECT_INTERVAL_MS);
    const persist = setInterval(() => {
      if (this.bitsDirty) this.persistAll();
    }, PERSIST_INTERVAL_MS);
    reconnect.unref();
    persist.unref();
    this.timers.push(reconnect, persist);
    this.startCopies();
    return this;
  }

  // ---- the write chain -------------------------------------------------------------------------

  beforeWrite(event: WriteEvent): void {
    this.mapRecorder.hostWrite(event);
    let cleared = false;
    for (const s of this.secondaries) {
      if (this.sendsWrites(s)) continue;
      for (let u = event.firstUnit; u < event.firstUnit + event.unitCount; u++) cleared = this.table.clearValid(u, s.mirror) || cleared;
    }
    if (cleared) this.file.persistCleared(this.table, event.firstUnit, event.unitCount);
  }

  afterWrite(event: WriteEvent): void {
    if (this.detached) return;
    const live = this.secondaries.filter((s) => this.sendsWrites(s));
    if (live.length === 0) return;
    const units = Array.from({ length: event.unitCount }, (_, i) => event.firstUnit + i);
    // Units a copy run has not reached are claimed first: the run then skips them (sent by this write).
    const claims = new Map<Secondary, number[]>();
    for (const s of live)
      if (s.copyRun)
        claims.set(
          s,
          units.filter((u) => s.copyRun?.states.tryClaim(u)),
        );
    const failed = this.sendUnits(live, units);
    for (const [s, claimed] of claims) {
      const states = s.copyRun?.states;
      for (const u of claimed) {
        if (failed.has(s)) states?.release(u);
        else states?.complete(u, true, this.volume.backend.slotBytes);
      }
    }
    for (const s of live) {
      if (failed.has(s)) continue;
      for (const u of units) {
        if (this.table.isValid(u, s.mirror)) continue;
        this.table.setValid(u, s.mirror);
        this.bitsDirty = true;
        if (s.resync) s.resync.sentByWrites++;
        this.mapRecorder.sentByWrite(s.mirror, u);
      }
    }
  }

  /**
   * True when host writes are sent to this secondary: a live state, not detached — except a remote
   * mirror still in its first COPY whose link is not up yet (just created, or reconnecting): its
   * writes only clear bits, durably, and the copy sends those tracks once the link is up, instead of
   * a write "failing" to no connection and suspending a mirror that never ran.
   */
  private sendsWrites(s: Secondary): boolean {
    if (!LIVE_STATES.has(s.state) || this.detached) return false;
    return s.state !== 'COPY' || this.isUp(s);
  }

  /**
   * Sends whole units of a host write to each secondary, through the engine's unit copy (a
   * host-driven copy: never paced, and it neither claims nor completes, the host holds the units);
   * returns those that failed (already marked and SUSPENDED).
   */
  private sendUnits(targets: readonly Secondary[], units: readonly number[]): Set<Secondary> {
    const failed = new Set<Secondary>();
    const how = { claim: false, complete: false, outOfOrder: true } as const;
    for (const s of targets) {
      if (s.spec.kind !== 'local') continue;
      try {
        copyUnits(this.hostCopier(this.localSink(s), LOCAL_TARGET, this.primarySource({ usedBytes: true })), units, how);
      } catch (error) {
        failed.add(s);
        this.lose(s, units, error);
      }
    }
    const remotes = targets.filter((s) => s.spec.kind === 'remote');
    if (remotes.length > 0) {
      const mask = remotes.reduce((m, s) => m | (1 << s.link), 0);
      let failedMask = 0;
      // One request for every remote link at once: the links write in parallel, each on its own socket.
      copyUnits(
        this.hostCopier(
          new FunctionUnitSink((writes) => {
            failedMask = this.sendToLinks(mask, writes);
          }),
          REMOTE_TARGET,
        ),
        units,
        how,
      );
      for (const s of remotes) {
        if ((failedMask & (1 << s.link)) === 0) continue;
        failed.add(s);
        this.lose(s, units, new SessionError(`Cannot write mirror ${s.name} at ${s.spec.target}: the link failed or timed out`, { mirror: s.name }));
      }
    }
    return failed;
  }

  /** The owning thread's unit copier for a host write: the primary's backend to `sink`. */
  private hostCopier(sink: FunctionUnitSink, target: SlotTarget, source = this.primarySource()): UnitCopier {
    return { states: this.hostWriteStates, source, sink, target, marks: [] };
  }

  /**
   * The primary's whole slots, each run of consecutive units in one read (into `landing`'s buffer
   * where it offers one); with `usedBytes`, also each track's used bytes from the primary's size
   * table V (a local secondary's writes are cut down to them, `writeLocal`; a remote one is sent a
   * sparse run as them and zero tails, `linkImages`).
   */
  private primarySource(options: { landing?: (bytes: number) => Buffer | undefined; usedBytes?: boolean } = {}): RunUnitSource {
    const backend = this.volume.backend;
    const read = (first: number, into: Buffer): void => {
      if (backend.readUnitsInto) backend.readUnitsInto(first, into);
      else if (into.length < backend.slotBytes) backend.readUnit(first, into.length).copy(into);
      else backend.readUnits(first, into.length / backend.slotBytes).copy(into);
    };
    const sizes = options.usedBytes === true && this.volume.geometry.kind === 'ckd' ? this.volume.trackSizes() : undefined;
    return new RunUnitSource(read, backend.slotBytes, {
      ...(options.landing ? { landing: options.landing } : {}),
      ...(sizes ? { usedBytes: (unit: number) => sizes.get(unit) } : {}),
    });
  }

  /** A local secondary's end: its own write chain, a run of whole slots cut down to what may differ per write. */
  private localSink(s: Secondary): FunctionUnitSink {
    return new FunctionUnitSink((writes) => {
      this.writeLocal(s, writes);
    });
  }

  /**
   * Writes units to a local secondary through its write chain; returns the bytes written. Of each
   * track only what may differ goes (slotRuns): the primary's used bytes, and zeros over what the
   * secondary's track may still hold (its own size table V), widened to whole pages, so a sparse
   * primary keeps its secondary sparse and a track of a few records costs a few pages, not a slot.
   */
  private writeLocal(s: Secondary, writes: readonly UnitWrite[]): number {
    const slot = this.volume.backend.slotBytes;
    const local = s.local;
    if (local === undefined) throw new SessionError(`Cannot write mirror ${s.name}: ${s.spec.target} is not open`, { mirror: s.name });
    const location = local.backend.location();
    const sizes = local.geometry.kind === 'ckd' ? local.trackSizes() : undefined;
    const target = sizes && location.kind === 'file' ? { extentOf: (unit: number) => sizes.get(unit), dataOffsetBytes: location.dataOffsetBytes } : undefined;
    let bytes = 0;
    for (const run of slotRuns(writes, slot, target)) {
      local.writeFlat(run.offsetBytes, run.data);
      bytes += run.data.length;
    }
    return bytes;
  }

  /** Writes units to the remote links in `mask`; returns the mask of those that failed. */
  private sendToLinks(mask: number, writes: readonly UnitWrite[]): number {
    assert(this.channel !== undefined, 'a remote secondary has a link channel');
    return this.channel.writeUnits(mask, this.volume.backend.slotBytes, writes.map(unitImage));
  }

  /** A secondary missed `units`: their bits go invalid durably, and the mirror is SUSPENDED. */
  private lose(s: Secondary, units: readonly number[], error: unknown): void {
    this.splitRecord(s).lostInSync = s.state === 'ONGOING' && this.table.nextInvalid(s.mirror, 0) < 0;
    this.clearDurably(s, units);
    s.lastError = error instanceof Error ? error.message : String(error);
    if (LIVE_STATES.has(s.state)) this.move(s, 'linkLost');
    this.closeLink(s);
  }

  /**
   * The units written on a local secondary's side while it was split: invalid for it, durably in
   * the state file, before its role file forgets them and it is protected again.
   */
  private takeSecondaryWrites(s: Secondary): void {
    this.clearDurably(s, localSecondaryWrites(s.spec.target, this.volume.unitCount));
    protectLocalSecondary(s.spec.target, this.volume.unitCount, mirrorPrimaryTag(this.volume.path));
  }

  /** Clears the bits of `units` for `s` and makes that durable before returning. */
  private clearDurably(s: Secondary, units: readonly number[]): void {
    let cleared = false;
    // Lowest and highest unit found in the same pass: `units` may be too long to spread into a call.
    let lowest = Number.POSITIVE_INFINITY;
    let highest = -1;
    for (const u of units) {
      cleared = this.table.clearValid(u, s.mirror) || cleared;
      lowest = Math.min(lowest, u);
      highest = Math.max(highest, u);
    }
    if (cleared && units.length > 0) this.file.persistCleared(this.table, lowest, highest - lowest + 1);
  }

  // ---- links -------------------------------------------------------------------------------------

  private connect(s: Secondary): void {
    if (s.spec.kind === 'remote') {
      // The secondary is told what the mirror is: split (writes allowed, recorded) or not (protected).
      const mode = s.state === 'BACKUP' ? 'split' : s.forgetSplitWrites ? 'forget' : 'protect';
      if (this.channel) s.linkEpoch = this.channel.connect(s.link, remoteAddress(s.spec.target), mode);
      s.connectPending = true;
      return;
    }
    if (s.local !== undefined) return;
    try {
      s.local = openLocalSecondary(s.spec.target, this.volume);
      // Held (locked) now: anything its role file recorded is resent before it counts as up.
      this.takeSecondaryWrites(s);
      if (s.state === 'SUSPENDED') this.move(s, 'linkUp');
    } catch (error) {
      s.lastError = error instanceof Error ? error.message : String(error);
    }
  }

  private closeLink(s: Secondary): void {
    if (s.spec.kind === 'remote') {
      s.remoteUp = false;
      this.channel?.drop(s.link);
    } else if (s.local !== undefined) {
      const volume = s.local;
      s.local = undefined;
      try {
        // On disk before it closes: bits that say it holds these tracks may be persisted later.
        volume.sync();
        volume.close();
      } catch (error) {
        s.lastError = error instanceof Error ? error.message : String(error);
      }
    }
  }

  private onLinkEvent(event: FromWorker): void {
    const s = this.secondaries.find((x) => x.spec.kind === 'remote' && x.link === event.link);
    // An answer to an older connect (say, the split's, after a rejoin asked for protection) is stale.
    if (s === undefined || this.detached || this.removed || event.epoch !== s.linkEpoch) return;
    s.connectPending = false;
    if (event.kind === 'down') {
      s.remoteUp = false;
      // The copy waits for the link to come back (then a new run starts), as host writes do.
      s.copyRun?.states.setControl(CONTROL.CANCEL);
      s.lastError = event.reason;
      if (event.heldBySecondary === true) this.splitBySecondary(s, event.reason);
      return;
    }
    if (event.sizeBytes !== this.volume.flatSizeBytes) {
      s.lastError = `export at ${s.spec.target} has ${event.sizeBytes} bytes, the primary ${this.volume.flatSizeBytes}`;
      this.channel?.drop(s.link);
      return;
    }
    // Tracks written on the secondary while it was split: invalid, durably, before any resync
    // starts; then the link connects again telling the secondary to forget them (FORGET).
    this.clearDurably(s, event.splitWrites);
    if (event.splitWrites.length > 0 && !s.forgetSplitWrites) {
      s.forgetSplitWrites = true;
      this.connect(s);
      return;
    }
    s.forgetSplitWrites = false;
    const wasUp = s.remoteUp;
    s.remoteUp = true;
    s.lastError = undefined;
    // Every reconnect of a link that was down is recorded (a second connect of a link already up is
    // none); only one to a mirror its secondary split ends a backup, and rejoins it.
    if (!wasUp && this.splitRecord(s).reconnected() && s.state === 'BACKUP') this.move(s, 'rejoin');
    if (s.state === 'SUSPENDED') this.move(s, 'linkUp');
    this.startCopies();
  }

  private reconnectDown(): void {
    if (this.detached || this.removed) return;
    for (const s of this.secondaries) {
      // A remote connect still unanswered is not asked again: its answer would only go stale.
      const down = s.spec.kind === 'remote' ? !s.remoteUp && !s.connectPending : s.local === undefined;
      // A mirror its secondary split keeps trying: the first connect that succeeds ends the backup.
      if (down && (s.state !== 'BACKUP' || this.splitRecord(s).bySecondary)) this.connect(s);
    }
  }

  private splitRecord(s: Secondary): SecondarySplitRecord {
    let record = this.secondarySplits.get(s.mirror);
    if (record === undefined) {
      record = new SecondarySplitRecord();
      this.secondarySplits.set(s.mirror, record);
    }
    return record;
  }

  /**
   * The secondary's server refused the link as split for a backup (secondary-split.ts): a mirror
   * that was in sync when its link went down becomes split (BACKUP) at that instant; any other
   * keeps its state, and its last error says why its image is no point in time.
   */
  private splitBySecondary(s: Secondary, reason: string): void {
    const record = this.splitRecord(s);
    if (s.state === 'BACKUP') return;
    const inSync = (s.state === 'ONGOING' && this.table.nextInvalid(s.mirror, 0) < 0) || (s.state === 'SUSPENDED' && record.lostInSync);
    if (!inSync) {
      s.lastError = `${reason}; but ${s.name} was ${s.state} and not in sync, so its image is no point in time of ${this.volumeName}: release it on its server (mirror rejoin --from-secondary) and split again once it is in sync`;
      return;
    }
    record.bySecondary = true;
    s.splitAt = new Date().toISOString();
    s.splitCount += 1;
    this.move(s, 'secondarySplit');
  }

  private isUp(s: Secondary): boolean {
    return s.spec.kind === 'remote' ? s.remoteUp : s.local !== undefined;
  }

  // ---- state -------------------------------------------------------------------------------------

  private move(s: Secondary, event: LinkEvent): void {
    const next = linkTransition(s.state, event, { volume: this.volumeName, mirror: s.name });
    s.state = next;
    if (event !== 'copied') this.mapRecorder.startEpisode(s.mirror);
    // A run copies only in a copying state: any move ends it (a new copy starts a new run).
    s.copyRun?.states.setControl(CONTROL.CANCEL);
    if (COPYING_STATES.has(next)) {
      s.errors.clear();
      // A resync that has not moved yet (a remote rejoin waiting for its link) is the same resync.
      const pending = s.resync && s.resync.finishedAt === null && s.resync.copied === 0 && s.resync.sentByWrites === 0 ? s.resync.startedAt : undefined;
      s.resync = { total: this.table.invalidCount(s.mirror), copied: 0, sentByWrites: 0, startedAt: pending ?? new Date().toISOString(), finishedAt: null };
      this.startCopies();
    }
    this.persistAll();
    this.emit('state', s.name, next);
  }

  /** A copy (initial or resync) starts: its total is the invalid tracks at this instant. */
  private startCopy(s: Secondary): void {
    s.errors.clear();
    s.resync = { total: this.table.invalidCount(s.mirror), copied: 0, sentByWrites: 0, startedAt: new Date().toISOString(), finishedAt: null };
    this.startCopies();
  }

  private persistAll(): void {
    this.bitsDirty = false;
    // The local secondaries' data before the bits that say they hold it (a remote one flushes on its side).
    for (const s of this.secondaries) s.local?.sync();
    const mirrors = this.secondaries.map((s): StoredMirror => ({ ...s.spec, linkState: s.state, splitCount: s.splitCount }));
    this.file.writeAll({ clean: this.detached, slotBytes: this.volume.backend.slotBytes, mirrors, table: this.table });
  }

  private pick(mirror?: string): Secondary[] {
    if (mirror === undefined) return [...this.secondaries];
    const found = this.secondaries.find((s) => s.name === mirror.toUpperCase());
    if (!found)
      throw new UsageError(`Cannot find mirror ${mirror} of ${this.volumeName}: it has ${this.secondaries.map((s) => s.name).join(', ')}`, {
        volume: this.volumeName,
        mirror,
      });
    return [found];
  }

  private checkActive(action: string): void {
    if (this.detached || this.removed)
      throw new SessionError(`Cannot ${action} the mirror of ${this.volumeName}: it is ${this.removed ? 'removed' : 'detached'}`, { volume: this.volumeName });
  }

  /**
   * Splits (ONGOING → BACKUP): from this instant the secondary gets no writes; a local one is closed
   * so that it can be backed up or opened by anyone. All named mirrors are checked before any moves.
   */
  split(mirror?: string): MirrorStatus[] {
    this.checkActive('split');
    const chosen = this.pick(mirror);
    for (const s of chosen) linkTransition(s.state, 'split', { volume: this.volumeName, mirror: s.name });
    const at = new Date().toISOString();
    for (const s of chosen) {
      s.splitAt = at;
      s.splitCount += 1;
      this.move(s, 'split');
      if (s.spec.kind === 'local') {
        this.closeLink(s);
        splitLocalSecondary(s.spec.target, this.volume.unitCount, mirrorPrimaryTag(this.volume.path));
      } else this.connect(s);
    }
    return chosen.map((s) => this.describe(s));
  }

  /**
   * Rejoins (BACKUP → BACKUP RETURN): copies the tracks written since the split, in the background.
   * A remote mirror whose link is down goes SUSPENDED instead and is connected; it moves on to BACKUP
   * RETURN when the link is up (mirror-link-state.ts, `rejoinDown`).
   */
  rejoin(mirror?: string): MirrorStatus[] {
    this.checkActive('rejoin');
    const chosen = this.pick(mirror);
    for (const s of chosen) linkTransition(s.state, 'rejoin', { volume: this.volumeName, mirror: s.name });
    for (const s of chosen) {
      if (s.spec.kind === 'local' && s.local === undefined) s.local = openLocalSecondary(s.spec.target, this.volume);
    }
    // Held open (locked) now: what was written on the split secondary is resent with the primary's writes.
    for (const s of chosen) if (s.spec.kind === 'local') this.takeSecondaryWrites(s);
    for (const s of chosen) {
      if (s.spec.kind === 'local') {
        this.move(s, 'rejoin');
        continue;
      }
      // A remote secondary reconnects asking for protection; its answer lists what was written on
      // it while split, and only then (SUSPENDED → BACKUP RETURN on link up) does the resync start.
      s.remoteUp = false;
      this.move(s, 'rejoinDown');
      // Its progress is this resync's from now on, not the last copy's.
      this.startCopy(s);
      this.connect(s);
    }
    return chosen.map((s) => this.describe(s));
  }

  // ---- background copy ---------------------------------------------------------------------------

  /** Starts a copy run for each secondary in a copying state whose link is up and that has none. */
  private startCopies(): void {
    if (this.detached || this.removed) return;
    for (const s of this.secondaries) {
      if (s.copyRun === undefined && COPYING_STATES.has(s.state) && this.isUp(s)) void this.runCopy(s);
    }
  }

  /**
   * One secondary's background copy: runs of the engine over the tracks invalid at each run's
   * start, until none is left (a host write may clear a bit only by losing the link, which ends the
   * run; a track in error stays). Then the copy is done: ONGOING, or still copying with errors.
   */
  private async runCopy(s: Secondary): Promise<void> {
    const mask = this.secondaries.reduce((m, x) => m | mirrorBit(x.mirror), PRIMARY_BIT);
    // Secondaries copying together share one pacing: it holds for the mirror's copy as a whole.
    const pacing = this.secondaries.some((x) => x.copyRun !== undefined) && this.sharedPacing ? this.sharedPacing : createPacing(this.pacingOptions);
    this.sharedPacing = pacing;
    let ended = false;
    try {
      // Bounded: each run sends every track it was given, or is cancelled, or fails (and ends the loop).
      for (;;) {
        if (!COPYING_STATES.has(s.state) || !this.isUp(s)) return;
        const units = selectCopyUnits(s, this.table, { configuredMask: mask, volumeName: this.volumeName });
        if (units.length === 0) break;
        const states = TrackStateArray.create(this.volume.unitCount);
        for (const u of units) states.include(u);
        s.copyRun = { states, pacing };
        const failure: { units: readonly number[]; error: unknown }[] = [];
        const result = await runBackgroundCopy({ plan: this.copyPlan(states, units, pacing, COPY_TARGET), ports: () => this.copyPorts(s, failure) });
        if (this.detached || this.removed) return;
        // A batch in flight can fail after its link's `down` has cancelled the run (that message
        // may come first): while the mirror still copies, that failure still suspends it.
        if (result.error && (states.control !== CONTROL.CANCEL || COPYING_STATES.has(s.state))) {
          const lost = failure[0];
          this.lose(s, lost?.units ?? [], lost?.error ?? new SessionError(`Cannot copy to mirror ${s.name}: ${result.error.message}`, { mirror: s.name }));
          return;
        }
        if (states.control === CONTROL.CANCEL) return;
      }
      ended = true;
    } finally {
      s.copyRun = undefined;
      if (!ended) this.startCopies();
    }
    if (s.errors.size > 0) {
      // Stays in its copying state: the tracks in error keep it from being in sync.
      if (s.resync && s.resync.finishedAt === null) s.resync.finishedAt = new Date().toISOString();
      return;
    }
    if (s.resync) s.resync.finishedAt = new Date().toISOString();
    this.move(s, 'copied');
  }

  private copyPlan(states: TrackStateArray, units: Int32Array, pacing: PacingPlan, target: SlotTarget): CopyPlan {
    return {
      stateBuffer: states.buffer,
      units,
      cursorBuffer: newCursor(),
      source: {},
      target,
      marks: [],
      // A host write claims the tracks it sends: the read must follow the claim.
      readBeforeClaim: false,
      pacing,
      batchUnits: copyBatchUnits(this.volume.geometry),
    };
  }

  /**
   * A run's ends: the primary's backend, and the secondary: its write chain, or its link, where
   * several batches are in flight (an asynchronous sink: a batch's tracks become valid only when
   * the secondary has acknowledged it).
   */
  private copyPorts(s: Secondary, failure: { units: readonly number[]; error: unknown }[]): OwningThreadPorts {
    const failed = (units: readonly number[], error: unknown): unknown => {
      failure.push({ units, error });
      return error;
    };
    const linkFailure = (): SessionError =>
      new SessionError(`Cannot write mirror ${s.name} at ${s.spec.target}: the link failed or timed out`, { mirror: s.name });
    if (s.spec.kind === 'remote') {
      const channel = this.channel;
      assert(channel !== undefined, 'a remote secondary has a link channel');
      const sink = new FunctionUnitSink(
        async (writes) => {
          const units = writes.map((w) => w.unit);
          if ((await channel.sendUnits(1 << s.link, this.volume.backend.slotBytes, linkImages(writes))) !== 0) throw failed(units, linkFailure());
        },
        () => channel.ready(),
      );
      // A batch is read straight into the channel slot it is sent from: no copy on this thread. Of
      // a sparse run only the used bytes are read, and sent (linkImages).
      return {
        source: this.primarySource({ landing: (bytes) => channel.landingFor(bytes), usedBytes: true }),
        sink,
        onWritten: (units) => this.copiedByRun(s, units),
      };
    }
    // The closing fsync of the secondary makes "in sync" durable; writeback in steps keeps it short.
    const writeback = new SteppedWriteback(s.spec.target, MIRROR_WRITEBACK_BYTES);
    let written = 0;
    const sink = new FunctionUnitSink(
      (writes) => {
        try {
          written += this.writeLocal(s, writes);
          writeback.reached(written);
        } catch (error) {
          throw failed(
            writes.map((w) => w.unit),
            error,
          );
        }
      },
      undefined,
      () => writeback.close(),
    );
    return { source: this.primarySource({ usedBytes: true }), sink, onWritten: (units) => this.copiedByRun(s, units) };
  }

  /** Tracks the background copy sent (one batch, acknowledged): valid for `s` from now on. */
  private copiedByRun(s: Secondary, units: readonly number[]): void {
    // A batch acknowledged once its run is cancelled proves too little: the run ends when the link is
    // lost, and a host write to one of its units that waited for the batch's answer, then failed
    // to be sent itself, has cleared the unit's bit meanwhile (the secondary has the batch's bytes,
    // not the host's). Its units stay as they are: the next copy sends those that are invalid.
    if (s.copyRun?.states.control === CONTROL.CANCEL) return;
    // A host write may have sent (and counted) some of them while the batch was in flight.
    let newlyValid = 0;
    for (const u of units) if (!this.table.isValid(u, s.mirror)) newlyValid++;
    this.table.setValidAll(units, s.mirror);
    this.mapRecorder.copied(s.mirror, units);
    this.bitsDirty = true;
    if (s.resync) s.resync.copied += newlyValid;
    // One progress event per batch, once its tracks are complete too (after the engine's call returns).
    queueMicrotask(() => this.emit('progress', s.name));
  }

  // ---- status and life cycle -----------------------------------------------------------------------

  private describe(s: Secondary): MirrorStatus {
    return { ...describeSecondary(s, this.table, { connected: this.isUp(s), detached: this.detached }), ...this.splitRecord(s).status(s.state) };
  }

  /** The mirror's own record: what the control API shows as its progress. */
  progress(): MirrorSessionStatus {
    return {
      volume: this.volumeName,
      path: this.volume.path,
      unitCount: this.volume.unitCount,
      recoveredUnclean: this.recoveredUnclean,
      detached: this.detached,
      mirrors: this.secondaries.map((s) => this.describe(s)),
    };
  }

  /** One mirror (M2..M4) as the live track map reads it (mirror-track-map.ts). */
  mapView(mirror: string): MirrorMapView {
    const [s] = this.pick(mirror);
    assert(s !== undefined, 'pick returns the named mirror');
    return {
      volumeName: this.volumeName,
      geometry: this.volume.geometry,
      name: s.name,
      mirror: s.mirror,
      linkState: s.state,
      table: this.table,
      marks: this.mapRecorder.marksOf(s.mirror),
      hostWrites: this.mapRecorder.hostWrites,
    };
  }

  /** Resolves when every named mirror is ONGOING with no invalid track (or rejects after `timeoutMs`). */
  async whenInSync(options: { mirror?: string; timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const names = this.pick(options.mirror).map((s) => s.name);
    // Bounded by the deadline.
    while (
      !this.progress()
        .mirrors.filter((m) => names.includes(m.mirror))
        .every((m) => m.inSync)
    ) {
      if (Date.now() > deadline)
        throw new SessionError(`Cannot wait for the mirror of ${this.volumeName}: not in sync within ${options.timeoutMs ?? 60_000} ms`, {
          volume: this.volumeName,
        });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private stopTimers(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
  }

  /**
   * Server shutdown: closes the links and writes the state CLEAN. The node stays on the chain and,
   * with every mirror now behind, clears bits durably for any write that still comes.
   */
  async detach(): Promise<void> {
    if (this.detached || this.removed) return;
    for (const s of this.secondaries) {
      s.copyRun?.states.setControl(CONTROL.CANCEL);
      if (LIVE_STATES.has(s.state)) this.move(s, 'linkLost');
      this.closeLink(s);
    }
    this.detached = true;
    this.stopTimers();
    this.persistAll();
    await this.channel?.close();
  }

  /**
   * Tells each remote secondary it is nobody's secondary any more (its export takes writes again).
   * Decision: one try, bounded by the link timeout; a secondary that is down then keeps its
   * protection until its role file (`<image>.secondary`) is deleted by hand.
   */
  private async releaseRemotes(): Promise<void> {
    const channel = this.channel;
    if (channel === undefined) return;
    const answers = this.secondaries
      .filter((s) => s.spec.kind === 'remote')
      .map((s) => channel.answer(channel.connect(s.link, remoteAddress(s.spec.target), 'release'), this.linkTimeoutMs));
    await Promise.all(answers);
  }

  /** Stops mirroring: off the chain, links closed, the state file deleted. */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    for (const s of this.secondaries) s.copyRun?.states.setControl(CONTROL.CANCEL);
    this.stopTimers();
    this.volume.removeInterceptor(this);
    for (const s of this.secondaries) this.closeLink(s);
    for (const s of this.secondaries) if (s.spec.kind === 'local') releaseLocalSecondary(s.spec.target);
    this.file.remove();
    await this.releaseRemotes();
    await this.channel?.close();
  }
}

/** Refuses a local secondary that is nobody's (no role file) or another primary's (its role file's tag). */
function checkLocalSecondaryIsOurs(volume: Volume, stateFile: string, target: string, tag: Buffer): void {
  const owner = localSecondaryOwner(target, volume.unitCount);
  if (owner === 'none') {
    throw new UsageError(
      `Cannot resume the mirror of ${volume.path}: its state file names ${target} as a secondary, but ${secondaryRolePath(target)} is missing, so that image is nobody's secondary and is not written; if it is this mirror's (mirrored before role files), remove ${stateFile} and create the mirror again`,
      { path: volume.path, secondary: target },
    );
  }
  if (!isUnknownPrimaryTag(owner) && !owner.equals(tag)) {
    throw new UsageError(
      `Cannot resume the mirror of ${volume.path}: its state file names ${target} as a secondary, but ${secondaryRolePath(target)} says that image is another primary's secondary, so it is not written`,
      { path: volume.path, secondary: target },
    );
  }
}
