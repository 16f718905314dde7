/**
 * The plain-data shapes of the mirror technique's status (printed by `snaptape mirror status
 * --json`, returned by the control API as a mirror session's `progress`).
 */
import type { LinkState } from './mirror-link-state.js';
import type { TargetKind } from './mirror-state-file.js';
import type { ReconnectRecord } from './secondary-split.js';

export interface TrackError {
  readonly track: number;
  readonly reason: string;
}

export interface ResyncProgress {
  /** Invalid tracks when this copy (initial copy or resync) began. */
  readonly total: number;
  /** Tracks the background copy sent. */
  readonly copied: number;
  /** Invalid tracks that host writes sent (through normal mirroring) before the copy reached them. */
  readonly sentByWrites: number;
  readonly startedAt: string;
  readonly finishedAt: string | null;
}

export interface MirrorStatus {
  /** M2..M4. */
  readonly mirror: string;
  readonly kind: TargetKind;
  readonly target: string;
  readonly state: LinkState;
  /** The link answers (remote) or the image is open (local). */
  readonly connected: boolean;
  /** ONGOING, connected, and no invalid track: the only case this says true. */
  readonly inSync: boolean;
  readonly invalidTracks: number;
  readonly resync: ResyncProgress | null;
  readonly trackErrors: readonly TrackError[];
  readonly trackErrorCount: number;
  readonly splitAt: string | null;
  readonly splitCount: number;
  readonly lastError: string | null;
  /** Who split a mirror in BACKUP (secondary-split.ts); null when not split. */
  readonly splitBy?: 'primary' | 'secondary' | null;
  /** Reconnects of the link since the session started, each one reported (not only those that end a backup). */
  readonly reconnects?: number;
  readonly lastReconnect?: ReconnectRecord | null;
}

export interface MirrorSessionStatus {
  readonly volume: string;
  readonly path: string;
  readonly unitCount: number;
  /** The state file was found without its CLEAN flag at resume: live mirrors were marked all invalid. */
  readonly recoveredUnclean: boolean;
  readonly detached: boolean;
  readonly mirrors: readonly MirrorStatus[];
}
