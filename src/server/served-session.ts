/**
 * The server's one adapter over a Session (src/session/session.ts), whatever its technique: the
 * id, the served volume and the times the registry keeps, the control API's SessionInfo built from
 * the session's status and progress, the verbs, the commands, the track map and the events.
 * Which technique it is shows only in `type` (the session's kind) and in the session's own words.
 *
 * Invariants: `settled` resolves (never rejects) once the session has settled; `finishedAt` is
 * set when the server first sees the session final (at the latest, at its `end` event); the
 * session's `end` event is the last this adapter forwards.
 */
import { EventEmitter } from 'node:events';
import { FINAL_STATES, type SessionState } from '../session/session-state.js';
import type { Session, SessionArgs, SessionKind } from '../session/session.js';
import type { TrackMapSnapshot } from '../session/session-view.js';
import { ControlError } from './control-error.js';
import type { SessionEvent, SessionInfo } from '../control-api/control-api-types.js';

/** Listeners on one session: the registry, one per SSE stream of this session, and a spare. */
const MAX_SESSION_LISTENERS = 66;

export type SessionEventListener = (event: SessionEvent) => void;

export class ServedSession {
  // Set once.
  readonly id: string;
  readonly type: SessionKind;
  readonly volumeName: string;
  readonly session: Session;
  readonly settled: Promise<void>;
  private readonly createdAt = new Date().toISOString();
  private readonly events = new EventEmitter();
  // Main thread only.
  private finishedAt: string | undefined;

  constructor(options: { id: string; volumeName: string; session: Session }) {
    this.id = options.id;
    this.volumeName = options.volumeName;
    this.session = options.session;
    this.type = options.session.kind;
    this.events.setMaxListeners(MAX_SESSION_LISTENERS);
    this.session.onEvent((event) => {
      if (event.kind === 'end') this.finishedAt ??= new Date().toISOString();
      this.events.emit('event', { kind: event.kind, session: this.info() } satisfies SessionEvent);
    });
    this.settled = this.session.settled.then(() => {
      this.finishedAt ??= new Date().toISOString();
    });
  }

  get state(): SessionState {
    return this.session.status().state;
  }

  info(): SessionInfo {
    const status = this.session.status();
    if (FINAL_STATES.has(status.state)) this.finishedAt ??= new Date().toISOString();
    return {
      id: this.id,
      type: this.type,
      volume: this.volumeName,
      target: status.target,
      state: status.state,
      createdAt: this.createdAt,
      finishedAt: this.finishedAt ?? null,
      progress: { ...this.session.progress() },
      summary: status.summary ?? null,
      error: status.failure,
    };
  }

  pause(): void {
    this.session.pause();
  }

  resume(): void {
    this.session.resume();
  }

  cancel(): void {
    this.session.cancel();
  }

  /** A technique's own command (a clone's activate, a mirror's split): 400 when the session has none. */
  command(verb: string, args: SessionArgs): void {
    if (!this.session.commands.includes(verb)) {
      throw new ControlError('BAD_REQUEST', `Cannot ${verb} session ${this.id}: a ${this.type} session has no ${verb} command`, { session: this.id });
    }
    this.session.command(verb, args);
  }

  /** The session's track map now (`args.mirror`: a mirror's secondary); 400 when it has none or refuses the arguments (USAGE). */
  trackMap(args: SessionArgs): TrackMapSnapshot {
    const map = this.session.view(args);
    if (map === null)
      throw new ControlError('BAD_REQUEST', `Cannot draw the map of session ${this.id}: a ${this.type} session has no track map`, { session: this.id });
    return map;
  }

  /** Subscribes to this session's events; returns the unsubscribe function. */
  onEvent(listener: SessionEventListener): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }
}
