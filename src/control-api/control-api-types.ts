/**
 * The JSON shapes of the control API (native-layout/control-api.md), shared by the server and by
 * `src/api/control-client.ts`. Everything here is plain data: it crosses the wire as JSON.
 *
 * Invariants: a field added here is optional for older clients; a session's `type` names the
 * technique that registered it, and `progress` is that technique's own progress record.
 */
import type { SessionState } from '../session/session-state.js';
import { SESSION_KINDS, type SessionKind } from '../session/session.js';

/** Session types the registry knows: the kinds of Session (src/session/session.ts). */
export const SESSION_TYPES = SESSION_KINDS;
export type SessionType = SessionKind;

/** Codes of failures that belong to the control API itself (the rest are SnaptapeError codes). */
export const CONTROL_ERROR_CODES = [
  'BAD_JSON',
  'BAD_REQUEST',
  'BODY_TOO_LARGE',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'UNKNOWN_VOLUME',
  'UNKNOWN_SESSION',
  'TOO_MANY',
  'SHUTTING_DOWN',
  'INTERNAL',
] as const;
export type ControlErrorCode = (typeof CONTROL_ERROR_CODES)[number];

export interface ApiErrorBody {
  readonly error: {
    /** A control error code above, or a SnaptapeError code (USAGE, SESSION, TARGET_EXISTS, ...). */
    readonly code: string;
    readonly message: string;
    readonly details?: Readonly<Record<string, string | number | boolean | null>>;
  };
}

export interface VolumeInfo {
  /** The NBD export name, also the volume's name in this API. */
  readonly name: string;
  readonly path: string;
  readonly format: 'ckd' | 'fba';
  readonly deviceType: string;
  readonly volser: string;
  readonly readOnly: boolean;
  /** Tracks (CKD) or blocks (FBA). */
  readonly unitCount: number;
  readonly slotBytes: number;
  /** Size of the NBD export: unitCount × slotBytes. */
  readonly exportSizeBytes: number;
  /** Names of the interceptors on the volume's write path (running sessions). */
  readonly interceptors: readonly string[];
  /** Set while the volume, a mirror secondary, is split from its own side (POST /volumes/:name/split): the split instant. */
  readonly secondarySplitAt?: string;
}

/** A served volume's split from the secondary's side (POST /volumes/:name/split and /rejoin). */
export interface SecondarySplitInfo {
  readonly volume: string;
  readonly split: boolean;
  /** The split instant (ISO time), or null when not split. */
  readonly splitAt: string | null;
}

export interface BackupSessionRequest {
  readonly type: 'backup';
  readonly volume: string;
  readonly tape: string;
  readonly datasets?: readonly string[];
  readonly workers?: number;
  readonly force?: boolean;
  readonly pauseAfter?: number;
  readonly pauseMs?: number;
  readonly throttleMbps?: number;
  readonly tapeVolser?: string;
  /** The copy-before-write error policy (default break-backup) and the longest a host write waits. */
  readonly onCbwError?: 'break-backup' | 'break-host-write';
  readonly cbwTimeoutMs?: number;
  /** A spool file for copy-before-write copies (a path on the server's machine). */
  readonly spool?: string;
  /** Emulate a target slowed to this many MB/s (experiments). */
  readonly targetMbps?: number;
  /** Copy only the units changed since the last complete backup's checkpoint (the volume needs change tracking). */
  readonly incremental?: boolean;
  /** The base instead: a checkpoint name, or a backup tape of this volume (a path on the server's machine): a differential. */
  readonly since?: string;
  /** Test hook (server started with --test-hooks): copy the image here right before the start instant. */
  readonly referenceCopy?: string;
  /**
   * The volume is a mirror secondary split from its own side: once this backup completes, end the
   * split (the primary then rejoins). A backup that fails or is cancelled leaves it split.
   */
  readonly rejoinSecondary?: boolean;
}

/** Creates a mirror of `volume` onto 1-3 secondaries (image paths, or host:port/export), or resumes one. */
export interface MirrorSessionRequest {
  readonly type: 'mirror';
  readonly volume: string;
  readonly secondaries?: readonly string[];
  readonly resume?: boolean;
  readonly linkTimeoutMs?: number;
  /** Throttle: milliseconds to wait after each cylinder the background copy sends. */
  readonly resyncPauseMs?: number;
  /** Pacing of the initial copy and every resync: pause `pauseMs` after every `pauseAfter` tracks, and a cap in MB/s. */
  readonly pauseAfter?: number;
  readonly pauseMs?: number;
  readonly throttleMbps?: number;
  /** Overwrite a local secondary whose VTOC lists data sets (refused without it). */
  readonly force?: boolean;
}

/** A clone (technique 4): `volume` is the source, `target` the destination volume's name. */
export interface CloneSessionRequest {
  readonly type: 'clone';
  readonly volume: string;
  readonly target: string;
  /** Start the PRECOPY at CREATE. */
  readonly precopy?: boolean;
  /** ACTIVE COPY: CREATE and ACTIVATE at once. */
  readonly activate?: boolean;
  /** Extent mode: only these data sets' tracks, to the same tracks of the target, catalogued there at ACTIVATE. */
  readonly datasets?: readonly string[];
  readonly workers?: number;
  readonly throttleMbps?: number;
}

/**
 * An instant snapshot by track pointers (issue 6): `volume` is the source, `target` another served
 * mapped volume of the same subsystem folder. Define and execute run at once; the session is
 * completed when the request returns, its progress holding the tokens and the token state.
 */
export interface SnapshotSessionRequest {
  readonly type: 'snapshot';
  readonly volume: string;
  readonly target: string;
  /** The target's new volser: required for a whole-volume snapshot. */
  readonly volser?: string;
  /** Data-set mode: copy only these data sets into the target's allocated extents. */
  readonly datasets?: readonly string[];
}

export type StartSessionRequest = BackupSessionRequest | MirrorSessionRequest | CloneSessionRequest | SnapshotSessionRequest;

/**
 * A technique's own commands besides pause, resume and cancel (POST /sessions/:id/<command>, body
 * the command's arguments, if any): a clone's precopy, activate and terminate, a mirror's split, rejoin
 * (`{"mirror"?: "M2"}`) and remove. A session refuses a command it does not have (400).
 */
export const SESSION_COMMANDS = ['precopy', 'activate', 'terminate', 'split', 'rejoin', 'remove'] as const;
export type SessionCommand = (typeof SESSION_COMMANDS)[number];

export interface SessionError {
  readonly code: string;
  readonly message: string;
}

export interface SessionInfo {
  readonly id: string;
  readonly type: SessionType;
  readonly volume: string;
  /** What the session writes: a tape path for a backup. */
  readonly target: string;
  readonly state: SessionState;
  readonly createdAt: string;
  readonly finishedAt: string | null;
  /** The technique's progress record (BackupProgress for a backup). */
  readonly progress: Readonly<Record<string, unknown>> | null;
  /** The technique's summary once completed (BackupSummary for a backup). */
  readonly summary: unknown;
  readonly error: SessionError | null;
}

/** One server-sent event's data; the SSE `event:` field is `kind`. */
export interface SessionEvent {
  readonly kind: 'state' | 'progress' | 'end';
  readonly session: SessionInfo;
}

export interface ServedExport {
  readonly name: string;
  readonly path: string;
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  /**
   * A CKD volume's size table as the server opened it: 'stored', or 'rebuilt by a scan: <why>' (the
   * table beside the image was stale, after a crash or a write by another tool). Built before the
   * server listens, so no client's first write waits for the scan.
   */
  readonly sizeTable?: string;
}

/** Where NBD listens: a unix socket (with the group that may use it, if any), or TCP with or without TLS-PSK. */
export type ServeNbdAddress =
  | { readonly kind: 'unix'; readonly path: string; readonly group: string | null }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly tls: boolean };

export interface ServeInfo {
  readonly pid: number;
  readonly nbd: ServeNbdAddress & { readonly exports: readonly ServedExport[] };
  readonly control:
    { readonly kind: 'unix'; readonly path: string } | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly token: string };
  readonly warnings: readonly string[];
}
