/**
 * The instant snapshot (technique 2) as a Session: the host protocol's steps (snapshot-protocol.ts:
 * define, execute, status through tokens) run together by `start()`, so a snapshot is driven like
 * every other technique. The pointer copy is instant: `start` defines and executes at once and the
 * session is `completed` when it returns; with `physical`, a standalone image of the snapshot is
 * then written in this process (physical-copy.ts) and the session stays `running` until it is.
 *
 * Decisions:
 * - The state and end of the instant part are announced on the next turn: whoever starts the
 *   session subscribes right after `start()` returns, and hears them (as with every session).
 * - A snapshot has no pause and no cancel: its pointer copy is one step, and a physical copy runs
 *   to its end (its token says how far it got); both are refused with a SessionError.
 * - A snapshot has no track map: `view()` is null.
 * - A define or an execute that fails leaves the session `failed` and throws: the caller's request
 *   fails, as a clone's CREATE does.
 */
import { SessionError, isSnaptapeError } from '../../errors/snaptape-error.js';
import { FINAL_STATES, transition, type SessionState, type SessionVerb } from '../../session/session-state.js';
import type { Session, SessionArgs, SessionFailure, SessionListener, SessionStatus } from '../../session/session.js';
import { SessionEvents } from '../../session/session-events.js';
import { onlyArgs, unknownVerb } from '../../session/session-args.js';
import { runPhysicalCopy } from './physical-copy.js';
import {
  defineSnapshot,
  executeSnapshot,
  snapshotStatus,
  type DefineResult,
  type ExecuteResult,
  type HeldVolumes,
  type StatusResult,
} from './snapshot-protocol.js';

export interface SnapshotSessionOptions {
  readonly volser?: string;
  readonly datasets?: readonly string[];
  /** Write a standalone CKD image of the snapshot here, in this process, after the pointer copy. */
  readonly physical?: string;
  /** Both volumes, already open for writing in this process (the server's); lent, not closed. */
  readonly held?: HeldVolumes;
  /** The target's name to show (a served volume's); its path otherwise. */
  readonly targetName?: string;
}

/** What a started snapshot did: the protocol's three answers. */
export interface SnapshotOutcome {
  readonly defined: DefineResult;
  readonly executed: ExecuteResult;
  readonly status: StatusResult;
}

export class SnapshotSession implements Session {
  // Set once.
  readonly kind = 'snapshot' as const;
  readonly commands: readonly string[] = [];
  readonly settled: Promise<void>;
  readonly sourcePath: string;
  readonly targetPath: string;
  private readonly options: SnapshotSessionOptions;
  private readonly settle: () => void;
  private readonly events = new SessionEvents(() => this.stateValue);
  // Main thread only.
  private stateValue: SessionState = 'starting';
  private outcomeValue: SnapshotOutcome | undefined;
  private failureValue: SessionFailure | undefined;

  constructor(sourcePath: string, targetPath: string, options: SnapshotSessionOptions = {}) {
    this.sourcePath = sourcePath;
    this.targetPath = targetPath;
    this.options = options;
    let settle = (): void => undefined;
    this.settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.settle = settle;
    this.events.endWhen(this.settled);
  }

  private get name(): string {
    return `snapshot of ${this.sourcePath} to ${this.targetPath}`;
  }

  /** The protocol's answers once started; undefined before. */
  get outcome(): SnapshotOutcome | undefined {
    return this.outcomeValue;
  }

  /** Define and execute at once: the pointer copy is the point in time. */
  start(): void {
    this.move('run', false);
    let outcome: SnapshotOutcome;
    try {
      const { held } = this.options;
      const defined = defineSnapshot(this.sourcePath, this.targetPath, { volser: this.options.volser, datasets: this.options.datasets, held });
      const executed = executeSnapshot(defined.token, { held, physical: this.options.physical });
      outcome = { defined, executed, status: snapshotStatus(executed.pollingToken) };
    } catch (error) {
      this.failureValue = failureOf(error);
      this.move('fail', true);
      this.settle();
      throw error;
    }
    this.outcomeValue = outcome;
    if (outcome.executed.state !== 'copying') {
      this.finish(true);
      return;
    }
    setImmediate(() => this.events.emit('state'));
    runPhysicalCopy(outcome.executed.pollingToken).then(
      () => this.finish(false),
      (error: unknown) => {
        this.failureValue = failureOf(error);
        this.move('fail', false);
        this.settle();
      },
    );
  }

  /** Completed; the instant case says so (state, then end) on the next turn. */
  private finish(instant: boolean): void {
    if (this.outcomeValue) this.outcomeValue = { ...this.outcomeValue, status: snapshotStatus(this.outcomeValue.executed.pollingToken) };
    this.move('complete', true);
    this.move('finish', instant);
    if (!instant) {
      this.settle();
      return;
    }
    setImmediate(() => {
      this.events.emit('state');
      this.settle();
    });
  }

  private move(verb: SessionVerb, quiet: boolean): void {
    this.stateValue = transition(this.stateValue, verb, this.name);
    if (quiet) return;
    this.events.emit('state');
  }

  pause(): void {
    throw new SessionError(`Cannot pause the ${this.name}: it is ${this.stateValue} (a snapshot is instant)`, { state: this.stateValue });
  }

  resume(): void {
    throw new SessionError(`Cannot resume the ${this.name}: it is ${this.stateValue}`, { state: this.stateValue });
  }

  cancel(): void {
    if (this.stateValue === 'starting') {
      this.move('cancel', false);
      this.settle();
      return;
    }
    throw new SessionError(
      `Cannot cancel the ${this.name}: it is ${this.stateValue}${FINAL_STATES.has(this.stateValue) ? '' : ' (a physical copy runs to its end)'}`,
      { state: this.stateValue },
    );
  }

  command(verb: string, args?: SessionArgs): void {
    onlyArgs(args, [], `${verb} the ${this.name}`);
    throw unknownVerb(`the ${this.name}`, verb, this.commands);
  }

  onEvent(listener: SessionListener): () => void {
    return this.events.add(listener);
  }

  view(): null {
    return null;
  }

  /** What the control API shows: the tokens, the token's state, the mode, and the pointer copy's size and time. */
  progress(): Readonly<Record<string, unknown>> {
    const targetVolume = this.options.targetName ?? this.targetPath;
    const outcome = this.outcomeValue;
    if (!outcome) return { state: null, source: this.sourcePath, target: this.targetPath, targetVolume };
    const { defined, executed } = outcome;
    const status = this.stateValue === 'running' ? snapshotStatus(executed.pollingToken) : outcome.status;
    return {
      state: status.state,
      token: executed.token,
      pollingToken: executed.pollingToken,
      mode: defined.mode,
      source: defined.source,
      target: defined.target,
      targetVolume,
      volser: status.volser,
      datasets: defined.datasets,
      tracks: executed.tracks,
      ms: executed.ms,
      ...(status.physical ? { physical: status.physical } : {}),
    };
  }

  status(): SessionStatus {
    const outcome = this.outcomeValue;
    const physical = this.stateValue === 'running' && outcome ? snapshotStatus(outcome.executed.pollingToken).physical : outcome?.status.physical;
    const tracks = outcome?.executed.tracks ?? 0;
    return {
      kind: this.kind,
      state: this.stateValue,
      phase: outcome ? (this.stateValue === 'running' ? 'copying' : outcome.status.state) : 'defining',
      counts: physical ? { total: physical.tracksTotal, done: physical.tracksDone } : { total: tracks, done: this.stateValue === 'completed' ? tracks : 0 },
      target: outcome?.defined.target ?? this.targetPath,
      summary: this.stateValue === 'completed' ? this.progress() : null,
      failure: this.failureValue ?? null,
    };
  }
}

function failureOf(error: unknown): SessionFailure {
  return isSnaptapeError(error)
    ? { code: error.code, message: error.message }
    : { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}
