/**
 * The clone's state machine (a state machine is a table, so every transition can be read in one place). A phase carries the state
 * flags PRECOPY and ACTIVE; every command moves the session through `applyCloneVerb`, which finds
 * the row in CLONE_TRANSITIONS or refuses the command with a SessionError. The row also sets the
 * OP (the last command) and its OP STATUS, so the three can never disagree.
 *
 *   phase       | flags            | verbs allowed
 *   ------------+------------------+--------------------------------------------------------------
 *   created     | -                | precopy, activate, cancel, fail
 *   precopy     | PRECOPY          | activate, cancel, fail
 *   active      | ACTIVE (+PRECOPY | copied (the background copy finished), cancel, fail
 *               |  if it had one)  |
 *   copied      | ACTIVE           | terminate, cancel (= terminate: nothing is left to copy)
 *   terminated, cancelled, failed  | final: no verb
 */
import { SessionError } from '../../errors/snaptape-error.js';
import type { SessionState } from '../../session/session-state.js';

export const CLONE_PHASES = ['created', 'precopy', 'active', 'copied', 'terminated', 'cancelled', 'failed'] as const;
export type ClonePhase = (typeof CLONE_PHASES)[number];
export type CloneVerb = 'precopy' | 'activate' | 'copied' | 'terminate' | 'cancel' | 'fail';
export type CloneOp = 'CREATE' | 'PRECOPY' | 'ACTIVATE' | 'TERMINATE' | 'CANCEL';
export type CloneOpStatus = 'in-progress' | 'complete' | 'failed';

export interface CloneStep {
  readonly phase: ClonePhase;
  /** The OP this verb records; `undefined` keeps the current OP (the copy finishing, a failure). */
  readonly op?: CloneOp;
  readonly opStatus: CloneOpStatus;
}

export const CLONE_TRANSITIONS: Readonly<Record<ClonePhase, Partial<Record<CloneVerb, CloneStep>>>> = {
  created: {
    precopy: { phase: 'precopy', op: 'PRECOPY', opStatus: 'in-progress' },
    activate: { phase: 'active', op: 'ACTIVATE', opStatus: 'in-progress' },
    cancel: { phase: 'cancelled', op: 'CANCEL', opStatus: 'complete' },
    fail: { phase: 'failed', opStatus: 'failed' },
  },
  precopy: {
    activate: { phase: 'active', op: 'ACTIVATE', opStatus: 'in-progress' },
    cancel: { phase: 'cancelled', op: 'CANCEL', opStatus: 'complete' },
    fail: { phase: 'failed', opStatus: 'failed' },
  },
  active: {
    copied: { phase: 'copied', opStatus: 'complete' },
    cancel: { phase: 'cancelled', op: 'CANCEL', opStatus: 'complete' },
    fail: { phase: 'failed', opStatus: 'failed' },
  },
  copied: {
    terminate: { phase: 'terminated', op: 'TERMINATE', opStatus: 'complete' },
    cancel: { phase: 'terminated', op: 'TERMINATE', opStatus: 'complete' },
  },
  terminated: {},
  cancelled: {},
  failed: {},
};

export const FINAL_CLONE_PHASES: ReadonlySet<ClonePhase> = new Set<ClonePhase>(['terminated', 'cancelled', 'failed']);

/** The session states of the engine and the server registry that each phase shows as. */
export const SESSION_STATE_OF_PHASE: Readonly<Record<ClonePhase, SessionState>> = {
  created: 'starting',
  precopy: 'running',
  active: 'running',
  copied: 'running',
  terminated: 'completed',
  cancelled: 'cancelled',
  failed: 'failed',
};

export interface CloneMachine {
  readonly phase: ClonePhase;
  readonly op: CloneOp;
  readonly opStatus: CloneOpStatus;
}

/** Why a verb is refused, in words an operator can act on. */
function refusal(verb: CloneVerb, phase: ClonePhase, tracksLeft: number): string {
  if (verb === 'activate' && (phase === 'active' || phase === 'copied')) return 'it is already active';
  if (verb === 'precopy' && phase === 'precopy') return 'it is already in PRECOPY';
  if (verb === 'precopy' && (phase === 'active' || phase === 'copied')) return `it is ${phase}, and PRECOPY comes before ACTIVATE`;
  if (verb === 'terminate' && (phase === 'created' || phase === 'precopy' || phase === 'active')) {
    return `it is ${phase} and ${tracksLeft} tracks are not copied yet`;
  }
  return `it is ${phase}`;
}

/** The one transition function: the next phase, OP and OP STATUS, or a SessionError. */
export function applyCloneVerb(machine: CloneMachine, verb: CloneVerb, context: { session: string; tracksLeft: number }): CloneMachine {
  const step = CLONE_TRANSITIONS[machine.phase][verb];
  if (step === undefined) {
    throw new SessionError(`Cannot ${verb} clone session ${context.session}: ${refusal(verb, machine.phase, context.tracksLeft)}`, {
      session: context.session,
      phase: machine.phase,
      verb,
      tracksLeft: context.tracksLeft,
    });
  }
  return { phase: step.phase, op: step.op ?? machine.op, opStatus: step.opStatus };
}

/** The state flags of a phase (`hadPrecopy`: the session ran a precopy before ACTIVATE). */
export function cloneFlags(phase: ClonePhase, hadPrecopy: boolean): { readonly precopy: boolean; readonly active: boolean } {
  const active = phase === 'active' || phase === 'copied';
  return { precopy: phase === 'precopy' || (active && hadPrecopy), active };
}
