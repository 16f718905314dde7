/**
 * The `mirror` session type of the server: a MirrorSession on one served volume (the primary),
 * started by POST /sessions `{type: "mirror", volume, secondaries: [...]}`, steered by
 * POST /sessions/:id/split|rejoin|remove `{mirror?: "M2"}`. Its `progress` is the mirror status
 * (link states, invalid tracks per mirror, resync progress).
 *
 * A mirror outlives the process: at start the server resumes every volume that has a
 * `<image>.mirror` file (`resumeMirrors`). Session states: `running` while mirroring; `cancel` (what
 * server shutdown does) detaches and keeps the state file, ending `cancelled`; `remove` deletes the
 * mirror, ending `completed`. pause/resume are refused: a mirror cannot stop propagating writes.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { SessionError, isSnaptapeError } from '../errors/snaptape-error.js';
import { transition, type SessionState } from '../engine/session-state.js';
import { MirrorSession } from '../techniques/mirror/mirror-session.js';
import { mirrorFilePath } from '../techniques/mirror/mirror-state-file.js';
import { defaultMapMirror, sampleMirrorTrackMap } from '../live/mirror-track-map.js';
import type { TrackMapSnapshot } from '../live/track-map.js';
import { ControlError } from './control-error.js';
import type { SessionEvent, SessionInfo } from './control-api-types.js';
import { RequestFields, type JsonObject } from './request-body.js';
import type { ServerSession, SessionEventListener, SessionFactory, SessionRegistry, TrackMapOptions } from './session-registry.js';
import type { ServedVolumes } from './served-volumes.js';

const MIRROR_FIELDS = ['type', 'volume', 'secondaries', 'resume', 'linkTimeoutMs', 'resyncPauseMs', 'pauseAfter', 'pauseMs', 'throttleMbps', 'force'] as const;
/** A resync that waits more than 10 s after a cylinder is a stalled resync. */
const MAX_RESYNC_PAUSE_MS = 10_000;
/** Pacing bounds, as for a backup: a pause longer than a minute, or a cap above 100 GB/s, is a mistake. */
const MAX_PAUSE_AFTER = 1_000_000;
const MAX_PAUSE_MS = 60_000;
const MAX_THROTTLE_MBPS = 100_000;
/** Link timeout bounds: below 100 ms loopback jitter trips it; above a minute a host write hangs too long. */
const MIN_LINK_TIMEOUT_MS = 100;
const MAX_LINK_TIMEOUT_MS = 60_000;
/** Listeners on one session: the registry, one per SSE stream, and a spare. */
const MAX_SESSION_LISTENERS = 66;

export type MirrorVerb = 'split' | 'rejoin' | 'remove';

export class MirrorServerSession implements ServerSession {
  // Set once.
  readonly id: string;
  readonly type = 'mirror' as const;
  readonly volumeName: string;
  readonly settled: Promise<void>;
  readonly mirror: MirrorSession;
  private readonly createdAt = new Date().toISOString();
  private readonly events = new EventEmitter();
  private readonly settle: () => void;
  // Main thread only.
  private sessionState: SessionState = 'running';
  private finishedAt: string | undefined;

  constructor(options: { id: string; volumeName: string; mirror: MirrorSession }) {
    this.id = options.id;
    this.volumeName = options.volumeName;
    this.mirror = options.mirror;
    this.events.setMaxListeners(MAX_SESSION_LISTENERS);
    let settle = (): void => undefined;
    this.settled = new Promise<void>((resolve) => { settle = resolve; });
    this.settle = settle;
    this.mirror.on('state', () => this.emit('state'));
    this.mirror.on('progress', () => this.emit('progress'));
  }

  get state(): SessionState {
    return this.sessionState;
  }

  info(): SessionInfo {
    const status = this.mirror.status();
    return {
      id: this.id, type: this.type, volume: this.volumeName, target: status.mirrors.map((m) => m.target).join(', '),
      state: this.sessionState, createdAt: this.createdAt, finishedAt: this.finishedAt ?? null,
      progress: { ...status }, summary: null, error: null,
    };
  }

  /** One secondary's map (`options.mirror`, else the one being copied or out of sync). */
  trackMap(options: TrackMapOptions): TrackMapSnapshot {
    const status = this.mirror.status();
    const name = (options.mirror ?? defaultMapMirror(status)).toUpperCase();
    if (!status.mirrors.some((m) => m.mirror === name)) {
      throw new ControlError('BAD_REQUEST', `Cannot draw the map of mirror ${name} of session ${this.id}: its mirrors are ${status.mirrors.map((m) => m.mirror).join(', ')}`, { session: this.id, mirror: name });
    }
    return sampleMirrorTrackMap(this.mirror.mapView(name));
  }

  pause(): void {
    throw new SessionError(`Cannot pause mirror session ${this.id}: a mirror cannot stop propagating writes (split it instead)`, { session: this.id });
  }

  resume(): void {
    throw new SessionError(`Cannot resume mirror session ${this.id}: it is never paused`, { session: this.id });
  }

  cancel(): void {
    this.sessionState = transition(this.sessionState, 'cancel', this.id);
    void this.mirror.detach().finally(() => this.end());
  }

  /** split / rejoin act on the mirror; remove ends the session. */
  act(verb: MirrorVerb, mirror: string | undefined): SessionInfo {
    if (this.sessionState !== 'running') throw new SessionError(`Cannot ${verb} mirror session ${this.id}: it is ${this.sessionState}`, { session: this.id });
    if (verb === 'split') this.mirror.split(mirror);
    else if (verb === 'rejoin') this.mirror.rejoin(mirror);
    else {
      this.sessionState = transition(transition(this.sessionState, 'complete', this.id), 'finish', this.id);
      void this.mirror.remove().finally(() => this.end());
    }
    const info = this.info();
    this.emit('state');
    return info;
  }

  onEvent(listener: SessionEventListener): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  private end(): void {
    this.finishedAt = new Date().toISOString();
    this.emit('end');
    this.settle();
  }

  private emit(kind: SessionEvent['kind']): void {
    const event: SessionEvent = { kind, session: this.info() };
    this.events.emit('event', event);
  }
}

/** Creates a mirror (or, with `resume`, takes up the one in `<image>.mirror`). */
export const startMirrorSession: SessionFactory = (request: JsonObject, context) => {
  const fields = new RequestFields(request);
  fields.onlyThese(MIRROR_FIELDS);
  const served = context.volumes.get(fields.string('volume'));
  const resume = fields.optionalBoolean('resume') ?? false;
  const options = { volumeName: served.name, linkTimeoutMs: fields.optionalInteger('linkTimeoutMs', { min: MIN_LINK_TIMEOUT_MS, max: MAX_LINK_TIMEOUT_MS }),
    resyncPauseMs: fields.optionalInteger('resyncPauseMs', { min: 0, max: MAX_RESYNC_PAUSE_MS }),
    pauseAfter: fields.optionalInteger('pauseAfter', { min: 0, max: MAX_PAUSE_AFTER }),
    pauseMs: fields.optionalInteger('pauseMs', { min: 0, max: MAX_PAUSE_MS }),
    throttleMbps: fields.optionalNumber('throttleMbps', { min: 0.001, max: MAX_THROTTLE_MBPS }),
    force: fields.optionalBoolean('force') ?? false,
  };
  let mirror: MirrorSession;
  if (resume) {
    mirror = MirrorSession.resume(served.volume, options);
  } else {
    const secondaries = fields.optionalStringList('secondaries');
    if (secondaries === undefined) throw new ControlError('BAD_REQUEST', 'Cannot accept the request: field "secondaries" is required to create a mirror', { field: 'secondaries' });
    mirror = MirrorSession.create(served.volume, secondaries, options);
  }
  return new MirrorServerSession({ id: context.id, volumeName: served.name, mirror });
};

/** Routes POST /sessions/:id/(split|rejoin|remove) to a mirror session. */
export function mirrorAction(session: ServerSession, verb: MirrorVerb, body: JsonObject): SessionInfo {
  if (!(session instanceof MirrorServerSession)) {
    throw new ControlError('BAD_REQUEST', `Cannot ${verb} session ${session.id}: it is a ${session.type} session, not a mirror`, { session: session.id });
  }
  const fields = new RequestFields(body);
  fields.onlyThese(['mirror']);
  return session.act(verb, fields.optionalString('mirror'));
}

/** Resumes the mirror of every served volume that has a state file; returns one warning per failure. */
export function resumeMirrors(registry: SessionRegistry, volumes: ServedVolumes): string[] {
  const warnings: string[] = [];
  for (const served of volumes.list()) {
    if (served.volume.readOnly || !existsSync(mirrorFilePath(served.volume.path))) continue;
    try {
      registry.start({ type: 'mirror', volume: served.name, resume: true });
    } catch (error) {
      const message = isSnaptapeError(error) || error instanceof ControlError ? error.message : String(error);
      warnings.push(`mirror of ${served.name} not resumed: ${message}`);
    }
  }
  return warnings;
}
