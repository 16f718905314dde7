/**
 * Session states and the verbs each allows (a state machine is a table, so every transition can be
 * read in one place). Every technique's session moves through `transition`, which refuses what the
 * table does not allow.
 */
import { SessionError } from '../errors/snaptape-error.js';

export const SESSION_STATES = ['starting', 'running', 'paused', 'completing', 'completed', 'failed', 'cancelled'] as const;
export type SessionState = (typeof SESSION_STATES)[number];
export type SessionVerb = 'run' | 'pause' | 'resume' | 'cancel' | 'complete' | 'finish' | 'fail';

export const SESSION_TRANSITIONS: Readonly<Record<SessionState, Partial<Record<SessionVerb, SessionState>>>> = {
  starting: { run: 'running', fail: 'failed', cancel: 'cancelled' },
  running: { pause: 'paused', cancel: 'cancelled', complete: 'completing', fail: 'failed' },
  paused: { resume: 'running', cancel: 'cancelled', fail: 'failed' },
  completing: { finish: 'completed', fail: 'failed' },
  completed: {},
  failed: {},
  cancelled: {},
};

export const FINAL_STATES: ReadonlySet<SessionState> = new Set<SessionState>(['completed', 'failed', 'cancelled']);

export function transition(state: SessionState, verb: SessionVerb, sessionName: string): SessionState {
  const next = SESSION_TRANSITIONS[state][verb];
  if (next === undefined) throw new SessionError(`Cannot ${verb} ${sessionName}: it is ${state}`, { session: sessionName, state, verb });
  return next;
}
