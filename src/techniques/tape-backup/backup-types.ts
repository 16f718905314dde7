/**
 * The options, progress and summary of a tape backup session: the shapes the CLI, the server and
 * the tests see. Kept apart from the session so that each reads on its own.
 */
import type { CopyPool } from '../../engine/copy-pool.js';
import type { SessionState } from '../../session/session-state.js';
import type { TapeVerification } from '../../tape/tape-verify.js';
import type { BlockRange } from './backup-elements.js';
import type { ChainDescription, SourceDescription } from './backup-labels.js';
import type { ElementDigestKind } from './element-digest.js';
import type { FaultPlan } from '../../image/fault-plan.js';

/** Longest a host write waits for a worker's copy of its track before the error policy applies. */
export const DEFAULT_CBW_TIMEOUT_MS = 30_000;
export const DEFAULT_PAUSE_MS = 5;

export type CbwErrorPolicy = 'break-backup' | 'break-host-write';

/** A session's first copy-before-write failure, latched: later failures only add to `count`. */
export interface CbwErrorStatus {
  readonly policy: CbwErrorPolicy;
  readonly reason: string;
  readonly count: number;
}

export interface TapeBackupOptions {
  /** The tape file; with `tapeStartBlock`, an FBA volume image that the tape is written onto. */
  readonly tapePath: string;
  /** Write the tape onto the FBA volume `tapePath` from this block (N0) instead of into a file. */
  readonly tapeStartBlock?: number;
  readonly datasets?: readonly string[];
  readonly blockRanges?: readonly BlockRange[];
  readonly workers?: number;
  readonly pauseAfter?: number;
  readonly pauseMs?: number;
  readonly throttleMbps?: number;
  readonly force?: boolean;
  readonly tapeVolser?: string;
  readonly cbwTimeoutMs?: number;
  readonly onCbwError?: CbwErrorPolicy;
  /** Injected faults on the tape writes this thread makes (tests, `--inject-tape`): tape-faults.ts. */
  readonly tapeFaults?: FaultPlan;
  /**
   * A spool for a slow target (`--spool`): copy-before-write puts old slots here, a fast local
   * file, and a drain moves them to the tape (backup-spool.ts). Removed when the tape is complete.
   */
  readonly spoolPath?: string;
  /** Emulate a target that takes at most this many MB/s (experiments, `--target-mbps`): target-rate.ts. */
  readonly targetMbps?: number;
  /** A pool to reuse (tests, the server); otherwise the session makes and closes its own. */
  readonly pool?: CopyPool;
  /** Label creation date cyyddd (for reproducible tapes). */
  readonly creationDate?: string;
  /**
   * Copy only the units changed since the last complete backup's checkpoint (an incremental): the
   * volume needs change tracking (techniques/tracking/).
   */
  readonly incremental?: boolean;
  /** The base of an incremental instead: a checkpoint name or a backup tape of this volume (a differential). */
  readonly since?: string;
}

export interface BackupProgress {
  readonly state: SessionState;
  readonly slotsTotal: number;
  readonly copiedInOrder: number;
  readonly copiedOutOfOrder: number;
  readonly bytesCopied: number;
  readonly bytesTotal: number;
  readonly elapsedMs: number;
  readonly mbPerSecond: number;
  readonly etaMs: number | null;
  /** Set once a copy-before-write failed (see `CbwErrorStatus`). */
  readonly cbwError?: CbwErrorStatus;
}

export interface ElementSummary {
  readonly name: string;
  readonly kind: string;
  readonly blocks: number;
  readonly bytes: number;
  /** UTL1's construction (element-digest.ts): BLKSHA256 for every backup made now. */
  readonly digest: ElementDigestKind;
  /** The element's digest (hex) in that construction, as UTL1 records it. */
  readonly sha256: string;
}

export interface BackupSummary {
  readonly tapePath: string;
  readonly source: SourceDescription & { readonly path: string };
  readonly elements: readonly ElementSummary[];
  readonly copiedInOrder: number;
  readonly copiedOutOfOrder: number;
  readonly bytes: number;
  /** Start to end, the final hash and read-back of the tape included. */
  readonly seconds: number;
  readonly mbPerSecond: number;
  /** Start until every block was on the tape (the copy phase alone). */
  readonly copySeconds: number;
  readonly tapeBytes: number;
  /** Where the tape is: its own file, or FBA blocks first..last of a volume. */
  readonly target: { readonly kind: 'file' } | { readonly kind: 'fba'; readonly firstBlock: number; readonly lastBlock: number };
  readonly verification: TapeVerification;
  /** Where the time went, for profiling the backup's phases. */
  readonly phases?: BackupPhases;
  /** Set when a copy-before-write failed and the host write was refused (break-host-write). */
  readonly cbwError?: CbwErrorStatus;
  /** Where the size table V the tape was planned from came from: stored, or rebuilt by a scan and why. */
  readonly sizeTable?: string;
  /** SHA-256 of the whole finished tape (an incremental names its base by it). */
  readonly tapeSha256?: string;
  /** The checkpoint the backup set at its start, and an incremental's base (a tracked volume). */
  readonly chain?: ChainDescription;
  /** The spool, when there was one: the bytes that went through it. */
  readonly spool?: { readonly path: string; readonly bytesSpooled: number };
}

/** Seconds of a backup's phases after its start: the copy, then the tape's last step. */
export interface BackupPhases {
  /** Start until every block was on the tape (as `copySeconds`). */
  readonly copySeconds: number;
  /** Data blocks the digest pass had read back and hashed when the copy was done (block-digest-pass.ts). */
  readonly blocksHashedDuringCopy: number;
  /** The copy's end until every block's digest was made: the pass's last windows, on every thread. */
  readonly digestWaitSeconds: number;
  /** Folding the block digests into each element's UTL1 digest. */
  readonly elementDigestSeconds: number;
  /** Writebacks of the tape started during the copy (base/stepped-writeback.ts). */
  readonly stepFlushes: number;
  /** Labels, tapemarks and the final fsync of the tape. */
  readonly syncSeconds: number;
  /** The check of the tape against its plan. */
  readonly readBackSeconds: number;
  /** The whole tape's SHA-256 (only a backup that sets a checkpoint makes it). */
  readonly tapeSha256Seconds: number;
}
