/**
 * The `snapshot` session type of the server (issue 6): an instant snapshot by track pointers from
 * one served mapped volume (`volume`, the source) onto another (`target`), both in one subsystem
 * folder and both held open by this server. Define and execute (techniques/snapshot/
 * snapshot-protocol.ts) run synchronously inside the request handler, on the volumes the server
 * holds, so the pointer copy falls between two NBD requests; the session is complete when the
 * request returns. A request the protocol refuses (no new volser, a stale extent, a target with
 * active sessions) fails the request itself, as a clone's CREATE does.
 *
 * Invariants: a session is only ever `completed`; its progress holds the token, the polling token
 * and the token's state (`complete`; `copying` would be a physical copy, which the server does not
 * start); `settled` is resolved from the start.
 */
import { EventEmitter } from 'node:events';
import { SessionError } from '../errors/snaptape-error.js';
import type { SessionState } from '../engine/session-state.js';
import { defineSnapshot, executeSnapshot, snapshotStatus, type DefineResult, type ExecuteResult, type StatusResult } from '../techniques/snapshot/snapshot-protocol.js';
import type { SessionEvent, SessionInfo } from '../control-api/control-api-types.js';
import { RequestFields, type JsonObject } from './request-body.js';
import type { ServerSession, SessionEventListener, SessionFactory } from './session-registry.js';

const SNAPSHOT_FIELDS = ['type', 'volume', 'target', 'volser', 'datasets'] as const;
/** Listeners on one session: the registry, one per SSE stream of this session, and a spare. */
const MAX_SESSION_LISTENERS = 66;

export interface SnapshotOutcome {
  readonly defined: DefineResult;
  readonly executed: ExecuteResult;
  readonly status: StatusResult;
}

export class SnapshotServerSession implements ServerSession {
  // Set once.
  readonly id: string;
  readonly type = 'snapshot' as const;
  readonly volumeName: string;
  readonly state: SessionState = 'completed';
  readonly settled: Promise<void> = Promise.resolve();
  private readonly targetName: string;
  private readonly outcome: SnapshotOutcome;
  private readonly createdAt: string;
  private readonly finishedAt: string;
  private readonly events = new EventEmitter();

  constructor(options: { id: string; volumeName: string; targetName: string; outcome: SnapshotOutcome; createdAt: string }) {
    this.id = options.id;
    this.volumeName = options.volumeName;
    this.targetName = options.targetName;
    this.outcome = options.outcome;
    this.createdAt = options.createdAt;
    this.finishedAt = new Date().toISOString();
    this.events.setMaxListeners(MAX_SESSION_LISTENERS);
    // The registry subscribes right after the factory returns: it (and every /events stream)
    // hears the state and the end once, on the next turn.
    setImmediate(() => {
      this.events.emit('event', { kind: 'state', session: this.info() } satisfies SessionEvent);
      this.events.emit('event', { kind: 'end', session: this.info() } satisfies SessionEvent);
    });
  }

  info(): SessionInfo {
    const { defined, executed, status } = this.outcome;
    const progress = {
      state: status.state,
      token: executed.token,
      pollingToken: executed.pollingToken,
      mode: defined.mode,
      source: defined.source,
      target: defined.target,
      targetVolume: this.targetName,
      volser: status.volser,
      datasets: defined.datasets,
      tracks: executed.tracks,
      ms: executed.ms,
    };
    return {
      id: this.id,
      type: this.type,
      volume: this.volumeName,
      target: defined.target,
      state: this.state,
      createdAt: this.createdAt,
      finishedAt: this.finishedAt,
      progress,
      summary: progress,
      error: null,
    };
  }

  pause(): void {
    throw new SessionError(`Cannot pause snapshot session ${this.id}: it is ${this.state} (a snapshot is instant)`, { session: this.id });
  }

  resume(): void {
    throw new SessionError(`Cannot resume snapshot session ${this.id}: it is ${this.state}`, { session: this.id });
  }

  cancel(): void {
    throw new SessionError(`Cannot cancel snapshot session ${this.id}: it is ${this.state}`, { session: this.id });
  }

  onEvent(listener: SessionEventListener): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }
}

/** Validates a snapshot request and runs define and execute at once on the served volumes. */
export const startSnapshotSession: SessionFactory = (request: JsonObject, context) => {
  const createdAt = new Date().toISOString();
  const fields = new RequestFields(request);
  fields.onlyThese(SNAPSHOT_FIELDS);
  const source = context.volumes.get(fields.string('volume'));
  const target = context.volumes.get(fields.string('target'));
  if (source === target) throw new SessionError(`Cannot snapshot ${source.name} onto itself: give another served volume as the target`, { volume: source.name });
  const held = { source: source.volume, target: target.volume };
  const defined = defineSnapshot(source.volume.path, target.volume.path, { volser: fields.optionalString('volser'), datasets: fields.optionalStringList('datasets'), held });
  const executed = executeSnapshot(defined.token, { held });
  const status = snapshotStatus(executed.pollingToken);
  return new SnapshotServerSession({ id: context.id, volumeName: source.name, targetName: target.name, outcome: { defined, executed, status }, createdAt });
};
