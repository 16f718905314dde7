/**
 * The `clone` session type of the server: a CloneSession from one served volume (`volume`, the
 * source) onto another (`target`), both owned by this server. CREATE runs synchronously inside the
 * request handler; `POST /sessions/:id/activate` is the ACTIVATE instant (between two NBD requests),
 * `POST /sessions/:id/terminate` releases the session once every track is copied. Cancel (and the
 * server's shutdown) terminates a copied clone and leaves any other incomplete, and says so in the
 * record beside the destination (`<target>.clone.json`).
 *
 * A clone outlives a killed server: at start the server takes up every unfinished clone recorded
 * beside a destination it serves, when it also serves the source (`resumeClones`, before the NBD
 * listener opens, so no host write goes unprotected); a clone that cannot resume is a warning.
 *
 * Invariants: `settled` resolves once the CloneSession has released its PB slot and persisted its
 * final record; each phase change is a `state` event, each copy pass a `progress` event.
 */
import { EventEmitter } from 'node:events';
import { SessionError } from '../errors/snaptape-error.js';
import { MAX_COPY_WORKERS } from '../engine/copy-pool.js';
import type { SessionState } from '../engine/session-state.js';
import { resolve } from 'node:path';
import { CloneSession } from '../techniques/clone/clone-session.js';
import { sampleCloneTrackMap } from '../live/clone-track-map.js';
import type { TrackMapSnapshot } from '../live/track-map.js';
import { findCloneToResume, restoreCloneToResume, type CloneResumePlan } from '../techniques/clone/clone-resume.js';
import { isSnaptapeError } from '../errors/snaptape-error.js';
import type { ServedVolumes } from './served-volumes.js';
import type { SessionRegistry } from './session-registry.js';
import type { SessionCommand, SessionEvent, SessionInfo } from '../control-api/control-api-types.js';
import { RequestFields, type JsonObject } from './request-body.js';
import type { ServerSession, SessionEventListener, SessionFactory } from './session-registry.js';

const CLONE_FIELDS = ['type', 'volume', 'target', 'precopy', 'activate', 'datasets', 'workers', 'throttleMbps'] as const;
const MAX_THROTTLE_MBPS = 100_000;
/** Listeners on one session: the registry, one per SSE stream of this session, and a spare. */
const MAX_SESSION_LISTENERS = 66;

export class CloneServerSession implements ServerSession {
  // Set once.
  readonly id: string;
  readonly type = 'clone' as const;
  readonly volumeName: string;
  readonly settled: Promise<void>;
  private readonly session: CloneSession;
  private readonly createdAt = new Date().toISOString();
  private readonly events = new EventEmitter();
  // Main thread only.
  private finishedAt: string | undefined;

  constructor(options: { id: string; volumeName: string; session: CloneSession }) {
    this.id = options.id;
    this.volumeName = options.volumeName;
    this.session = options.session;
    this.events.setMaxListeners(MAX_SESSION_LISTENERS);
    this.session.on('phase', () => this.emit('state'));
    this.session.on('progress', () => this.emit('progress'));
    this.settled = new Promise<void>((resolve) => {
      this.session.once('released', () => {
        this.finishedAt = new Date().toISOString();
        this.emit('end');
        resolve();
      });
    });
  }

  get state(): SessionState {
    return this.session.state;
  }

  info(): SessionInfo {
    const status = this.session.status();
    return {
      id: this.id,
      type: this.type,
      volume: this.volumeName,
      target: this.session.target.path,
      state: this.session.state,
      createdAt: this.createdAt,
      finishedAt: this.finishedAt ?? null,
      progress: { ...status },
      summary: status.phase === 'terminated' ? { ...status } : null,
      error: status.error === null ? null : { code: 'SESSION', message: status.error },
    };
  }

  /** The map from the clone's IND bits and track states, the final one once it is released. */
  trackMap(): TrackMapSnapshot {
    return sampleCloneTrackMap(this.session.mapView());
  }

  pause(): void {
    throw new SessionError(`Cannot pause clone session ${this.id}: a clone is paced (throttleMbps), not paused; cancel it to stop`, { session: this.id });
  }

  resume(): void {
    throw new SessionError(`Cannot resume clone session ${this.id}: a clone is never paused`, { session: this.id });
  }

  cancel(): void {
    this.session.cancel();
  }

  command(command: SessionCommand): void {
    if (command === 'activate') this.session.activate();
    else this.session.terminate();
  }

  onEvent(listener: SessionEventListener): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  private emit(kind: SessionEvent['kind']): void {
    this.events.emit('event', { kind, session: this.info() } satisfies SessionEvent);
  }
}

/** Validates a clone request and runs CREATE (and PRECOPY or ACTIVATE, if asked) at once. */
export const startCloneSession: SessionFactory = (request: JsonObject, context) => {
  const fields = new RequestFields(request);
  fields.onlyThese(CLONE_FIELDS);
  const source = context.volumes.get(fields.string('volume'));
  const target = context.volumes.get(fields.string('target'));
  const session = CloneSession.create(source.volume, target.volume, {
    id: context.id,
    precopy: fields.optionalBoolean('precopy'),
    activate: fields.optionalBoolean('activate'),
    datasets: fields.optionalStringList('datasets'),
    workers: fields.optionalInteger('workers', { min: 1, max: MAX_COPY_WORKERS }),
    throttleMbps: fields.optionalNumber('throttleMbps', { min: 0, max: MAX_THROTTLE_MBPS }),
  });
  return new CloneServerSession({ id: context.id, volumeName: source.name, session });
};

/**
 * Step 1 of a resume, before the server opens its images (opening takes over stale locks): the
 * unfinished clone recorded beside each image. A record that cannot be read is a warning.
 */
export function findClonesToResume(imagePaths: readonly string[], warnings: string[]): CloneResumePlan[] {
  const plans: CloneResumePlan[] = [];
  for (const path of imagePaths) {
    try {
      const plan = findCloneToResume(resolve(path));
      if (plan) plans.push(plan);
    } catch (error) {
      warnings.push(`clone onto ${path} not resumed: ${isSnaptapeError(error) ? error.message : String(error)}`);
    }
  }
  return plans;
}

/** Step 2, with the images open: takes up each clone whose source and destination are served here. */
export function resumeClones(registry: SessionRegistry, volumes: ServedVolumes, plans: readonly CloneResumePlan[]): string[] {
  const warnings: string[] = [];
  const served = (path: string) => volumes.list().find((v) => resolve(v.volume.path) === resolve(path));
  for (const plan of plans) {
    const { record } = plan;
    const source = served(record.source);
    const target = served(record.target);
    if (!source || !target) {
      warnings.push(`clone ${record.id} of ${record.source} onto ${record.target} not resumed: serve both images to resume it (or run snaptape clone resume ${record.target})`);
      continue;
    }
    try {
      registry.adopt('clone', (id) => {
        const restored = restoreCloneToResume(plan, source.volume, target.volume);
        let session: CloneSession;
        try {
          session = CloneSession.resume(source.volume, target.volume, restored, { id });
        } catch (error) {
          restored.file.close();
          throw error;
        }
        return new CloneServerSession({ id, volumeName: source.name, session });
      });
    } catch (error) {
      warnings.push(`clone ${record.id} of ${record.source} onto ${record.target} not resumed: ${isSnaptapeError(error) ? error.message : String(error)}`);
    }
  }
  return warnings;
}
