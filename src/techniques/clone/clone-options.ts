/**
 * The clone session's options, status record and named limits (clone-session.ts uses them; the
 * server, the API and the CLI show them).
 */
import type { CopyPool } from '../../engine/copy-pool.js';
import type { SessionState } from '../../session/session-state.js';
import type { CloneMachine, ClonePhase } from './clone-phase.js';

/** Longest a host I/O waits for a worker's copy of its track before it fails. */
export const DEFAULT_CLONE_WAIT_MS = 30_000;
/** A precopy with nothing left to copy looks again this often (for rewritten tracks, or ACTIVATE). */
export const PRECOPY_IDLE_MS = 20;
/** The session record is checkpointed at most this often while the copy runs. */
export const CLONE_CHECKPOINT_MS = 2_000;
/** Workers of a session's own pool: two keep a 2-core machine responsive to host I/O. */
export const DEFAULT_CLONE_WORKERS = 2;

export interface CloneOptions {
  /** Session id; default `clone-<n>`. */
  readonly id?: string;
  /** Start the PRECOPY at CREATE. */
  readonly precopy?: boolean;
  /** ACTIVE COPY: CREATE and ACTIVATE at once. */
  readonly activate?: boolean;
  /** Extent mode (CKD): only these data sets (names or patterns) take part. */
  readonly datasets?: readonly string[];
  /** A pool to share (tests, the server); otherwise the session makes its own when it copies. */
  readonly pool?: CopyPool;
  readonly workers?: number;
  /** Background copy pacing (engine/copy-pacing.ts): a rate cap for the session, MB/s. */
  readonly throttleMbps?: number;
  /** Pause the whole background copy for `pauseMs` after every `pauseAfter` tracks copied. */
  readonly pauseAfter?: number;
  readonly pauseMs?: number;
  readonly waitMs?: number;
  /** How often the record and bitmap are checkpointed while the copy runs; default CLONE_CHECKPOINT_MS. */
  readonly checkpointMs?: number;
}

export interface CloneStatus {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly phase: ClonePhase;
  readonly state: SessionState;
  readonly flags: { readonly precopy: boolean; readonly active: boolean };
  readonly op: CloneMachine['op'];
  readonly opStatus: CloneMachine['opStatus'];
  readonly opAt: string;
  readonly activatedAt: string | null;
  readonly datasets: readonly string[];
  readonly tracksTotal: number;
  /** Tracks with CLONE PB set: still to be copied. */
  readonly tracksLeft: number;
  /** Tracks with IND set on the destination. */
  readonly indirect: number;
  /** Tracks with PRECOPY PB set. */
  readonly precopied: number;
  /** Tracks with both PB bits set (an error when not 0). */
  readonly pbConflicts: number;
  readonly recopies: number;
  readonly passes: number;
  readonly copiedInBackground: number;
  readonly copiedOnDemand: number;
  readonly bytesCopied: number;
  readonly error: string | null;
}
