/**
 * The one face of every technique's session (tape backup, clone, mirror, snapshot): what the
 * server's one adapter (src/server/served-session.ts), the live page and a test drive, with no
 * knowledge of the technique.
 *
 * - `start()` begins the session: the instant of a point-in-time technique, the start of its
 *   background copy. A technique's creator (`TapeBackupSession.prepare`, `CloneSession.create`,
 *   `MirrorSession.prepare`, `new SnapshotSession`) checks and prepares; `start` moves the state
 *   from `starting` by the table's `run` verb, so a second start is refused like any verb the
 *   table does not allow.
 * - `status()` holds the state (session-state.ts: the one table every technique moves through),
 *   the technique's own phase word, and the unit counts; `progress()` is the technique's own
 *   record (a BackupProgress, a CloneStatus, a MirrorSessionStatus), which the control API shows.
 * - `pause` / `resume` / `cancel` go through the table too; a technique that cannot pause (a
 *   mirror cannot stop propagating writes) refuses with a SessionError that says why.
 * - Technique verbs go through `command(verb, args)`; `commands` lists them (a clone's precopy,
 *   activate, terminate; a mirror's split, rejoin, detach, remove). An unknown verb is a
 *   SessionError naming the ones the session has.
 * - `onEvent` is the one event stream: `state` on each change of state or phase, `progress` on
 *   each copy step or sample, and one `end` once the session has settled (`settled` resolves then).
 * - `view()` is the track map as plain data (session-view.ts): a code per unit and a legend naming
 *   each code; null for a session with no map (a snapshot is instant).
 *
 * Invariants: `status().state` only ever changes by `transition` on SESSION_TRANSITIONS; once it is
 * final, `settled` resolves (never rejects) after the session's last record is written, and `end`
 * is the last event.
 */
import type { SessionState } from './session-state.js';
import type { TrackMapSnapshot } from './session-view.js';

export const SESSION_KINDS = ['backup', 'mirror', 'clone', 'snapshot'] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];

export type SessionEventKind = 'state' | 'progress' | 'end';

/** One event of a session's stream; `status()` says the rest. */
export interface SessionEvent {
  readonly kind: SessionEventKind;
  readonly state: SessionState;
  readonly atMs: number;
}

export type SessionListener = (event: SessionEvent) => void;

/** Units (tracks or blocks) in the session's work and how many of them are done (copied, in sync). */
export interface SessionCounts {
  readonly total: number;
  readonly done: number;
}

/** Why a session failed: a SnaptapeError's code and message. */
export interface SessionFailure {
  readonly code: string;
  readonly message: string;
}

export interface SessionStatus {
  readonly kind: SessionKind;
  /** From the one state table (session-state.ts). */
  readonly state: SessionState;
  /** The technique's own word for where it is: a clone's CLONE phase, a mirror's link states; a backup's state. */
  readonly phase: string;
  readonly counts: SessionCounts;
  /** What the session writes: a tape path, a destination volume, the secondaries. */
  readonly target: string;
  /** The technique's summary once it completed, else null. */
  readonly summary: unknown;
  readonly failure: SessionFailure | null;
}

/** Arguments of a technique verb or a view: plain values only (they come from JSON requests). */
export type SessionArgs = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Session {
  readonly kind: SessionKind;
  /** The verbs `command` accepts. */
  readonly commands: readonly string[];
  /** Resolves (never rejects) once the session is final and its last record is written. */
  readonly settled: Promise<void>;
  start(): void;
  status(): SessionStatus;
  /** The technique's own progress record, plain data (the control API's `progress`). */
  progress(): object;
  pause(): void;
  resume(): void;
  cancel(): void;
  command(verb: string, args?: SessionArgs): void;
  /** Subscribes to the session's events; returns the unsubscribe function. */
  onEvent(listener: SessionListener): () => void;
  /** The track map now (`args.mirror` picks a mirror's secondary); null when the session has none. */
  view(args?: SessionArgs): TrackMapSnapshot | null;
}
