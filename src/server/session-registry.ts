/**
 * The server's sessions, keyed by id (`<type>-<n>`), each a Session behind the one adapter
 * (served-session.ts). A session type registers a creator here (backup, clone, mirror, snapshot:
 * session-creators.ts); the creator validates its request and starts the session synchronously,
 * inside the request handler, so a technique whose start is a point in time takes it when the
 * request is processed.
 *
 * Invariants:
 * - at most MAX_SESSION_RECORDS sessions are kept; a new one evicts the oldest finished one, and is
 *   refused (TOO_MANY) when every kept session is still active;
 * - at most MAX_ACTIVE_SESSIONS_PER_VOLUME active sessions share one volume's write path;
 * - after `shutdown()` starts no session starts; `shutdown` cancels every active session that its
 *   state allows to cancel and waits (bounded) for every active session to settle.
 */
import { assert } from '../base/assert.js';
import { FINAL_STATES, SESSION_TRANSITIONS } from '../session/session-state.js';
import { ControlError } from './control-error.js';
import type { Session } from '../session/session.js';
import { SESSION_TYPES, type SessionEvent, type SessionType } from '../control-api/control-api-types.js';
import type { JsonObject } from './request-body.js';
import { ServedSession, type SessionEventListener } from './served-session.js';
import type { ServedVolumes } from './served-volumes.js';
import type { SecondarySplits } from './secondary-splits.js';

/** Session records kept for GET /sessions; old finished ones are dropped first. */
export const MAX_SESSION_RECORDS = 256;
/** Active sessions on one volume: each adds an interceptor and a worker pool; 4 leaves room for the
 * 16-interceptor chain limit and keeps 2-core machines responsive. */
export const MAX_ACTIVE_SESSIONS_PER_VOLUME = 4;
/** Event subscribers (SSE streams and the server itself). */
export const MAX_EVENT_SUBSCRIBERS = 64;
/** Longest shutdown waits for sessions to settle after cancelling them. */
export const SHUTDOWN_SETTLE_MS = 30_000;

/** What a creator starts: the session, and the served volume it is of (a clone's source). */
export interface StartedSession {
  readonly session: Session;
  readonly volumeName: string;
}

export interface SessionStartContext {
  readonly id: string;
  readonly volumes: ServedVolumes;
  readonly testHooks: boolean;
  /** The splits taken from the secondary's side (a backup may end one: `rejoinSecondary`). */
  readonly secondarySplits?: SecondarySplits;
}

/** Validates a request of one session type and starts its session (session-creators.ts). */
export type SessionCreator = (request: JsonObject, context: SessionStartContext) => StartedSession;

export class SessionRegistry {
  // Set once.
  private readonly volumes: ServedVolumes;
  private readonly testHooks: boolean;
  private readonly secondarySplits: SecondarySplits | undefined;
  // Main thread only.
  private readonly creators = new Map<SessionType, SessionCreator>();
  private readonly sessions = new Map<string, ServedSession>();
  private readonly listeners = new Set<SessionEventListener>();
  private nextNumber = 1;
  private stopping = false;

  constructor(volumes: ServedVolumes, options: { testHooks: boolean; secondarySplits?: SecondarySplits }) {
    this.volumes = volumes;
    this.testHooks = options.testHooks;
    this.secondarySplits = options.secondarySplits;
  }

  registerType(type: SessionType, creator: SessionCreator): void {
    assert(!this.creators.has(type), `session type ${type} is registered once`);
    this.creators.set(type, creator);
  }

  /** Validates the request's type and starts the session; the creator checks the rest. */
  start(request: JsonObject): ServedSession {
    if (this.stopping) throw new ControlError('SHUTTING_DOWN', 'Cannot start a session: the server is shutting down');
    const type = request['type'];
    const creator = typeof type === 'string' ? this.creators.get(type as SessionType) : undefined;
    if (!creator) {
      throw new ControlError('BAD_REQUEST', `Cannot start a session of type ${JSON.stringify(type ?? null)}: known types are ${SESSION_TYPES.join(', ')}`, {
        field: 'type',
      });
    }
    const volumeName = request['volume'];
    // A clone source has its own limit (8 sessions, techniques/clone/protection-bits.ts).
    if (typeof volumeName === 'string' && type !== 'clone') this.checkVolumeRoom(volumeName);
    return this.adopt(type as SessionType, (id) =>
      creator(request, {
        id,
        volumes: this.volumes,
        testHooks: this.testHooks,
        ...(this.secondarySplits !== undefined ? { secondarySplits: this.secondarySplits } : {}),
      }),
    );
  }

  /**
   * Registers a session that `make` starts under the next id: what `start` does after checking the
   * request, and how the server takes up a session that outlived its process (a clone at start).
   */
  adopt(type: SessionType, make: (id: string) => StartedSession): ServedSession {
    if (this.stopping) throw new ControlError('SHUTTING_DOWN', 'Cannot start a session: the server is shutting down');
    this.makeRoom();
    const id = `${type}-${this.nextNumber}`;
    const started = make(id);
    const session = new ServedSession({ id, volumeName: started.volumeName, session: started.session });
    this.nextNumber += 1;
    this.sessions.set(id, session);
    session.onEvent((event) => this.emit(event));
    return session;
  }

  get(id: string): ServedSession {
    const session = this.sessions.get(id);
    if (!session) throw new ControlError('UNKNOWN_SESSION', `Cannot find session '${id}': no such session on this server`, { session: id });
    return session;
  }

  list(): ServedSession[] {
    return [...this.sessions.values()];
  }

  active(): ServedSession[] {
    return this.list().filter((s) => !FINAL_STATES.has(s.state));
  }

  subscribe(listener: SessionEventListener): () => void {
    if (this.listeners.size >= MAX_EVENT_SUBSCRIBERS) {
      throw new ControlError('TOO_MANY', `Cannot subscribe to events: ${MAX_EVENT_SUBSCRIBERS} subscribers already`, { limit: MAX_EVENT_SUBSCRIBERS });
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Stops starting sessions, cancels the active ones whose state allows it (a session that is
   * completing is left to finish), and waits up to SHUTDOWN_SETTLE_MS for all of them to settle.
   * Returns the ids of sessions that had not settled in time.
   */
  async shutdown(): Promise<string[]> {
    this.stopping = true;
    const active = this.active();
    for (const session of active) {
      if (SESSION_TRANSITIONS[session.state].cancel !== undefined) session.cancel();
    }
    const unsettled = new Set(active.map((s) => s.id));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_SETTLE_MS);
    });
    await Promise.race([Promise.all(active.map((s) => s.settled.then(() => unsettled.delete(s.id)))), timeout]);
    clearTimeout(timer);
    return [...unsettled];
  }

  private checkVolumeRoom(volumeName: string): void {
    const busy = this.active().filter((s) => s.volumeName === volumeName).length;
    if (busy >= MAX_ACTIVE_SESSIONS_PER_VOLUME) {
      throw new ControlError(
        'TOO_MANY',
        `Cannot start a session on '${volumeName}': ${busy} sessions are active on it (at most ${MAX_ACTIVE_SESSIONS_PER_VOLUME})`,
        { volume: volumeName },
      );
    }
  }

  private makeRoom(): void {
    if (this.sessions.size < MAX_SESSION_RECORDS) return;
    const oldestFinished = this.list().find((s) => FINAL_STATES.has(s.state));
    if (!oldestFinished)
      throw new ControlError('TOO_MANY', `Cannot start a session: ${MAX_SESSION_RECORDS} sessions are active`, { limit: MAX_SESSION_RECORDS });
    this.sessions.delete(oldestFinished.id);
  }

  private emit(event: SessionEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A subscriber's failure (a closed stream) is its own; the others still get the event.
      }
    }
  }
}
