/**
 * A split taken from the secondary's side (claims 1A/8A of US 5,857,208): the `snaptape serve` that
 * owns a remote secondary puts its mirror into backup mode, backs the secondary up, and takes it
 * out of backup mode again, without the primary's operator.
 *
 * The signal travels on the mirror's own link, which is an NBD connection from the primary to the
 * secondary's server:
 * - split: the secondary's server holds the export (export/volume-backend.ts `hold`). From that
 *   instant every NBD write to it is refused (EPERM), so the secondary keeps every write the primary
 *   had acknowledged and nothing after; the primary's next write fails, its link drops, and its
 *   reconnect is refused at the handshake with NBD_REP_ERR_POLICY and a message that starts with
 *   SECONDARY_SPLIT_MARK. That refusal is how the primary knows it is a split, not a failure: it
 *   moves the mirror to BACKUP ("split by the secondary"), with the tracks written since invalid;
 * - end of backup: the secondary's server releases the export. The primary keeps reconnecting a
 *   mirror split this way; the first reconnect that succeeds is the end-of-backup signal, and the
 *   mirror rejoins by itself (BACKUP RETURN, then ONGOING).
 * A mirror split by the primary's operator never reconnects by itself, and a reconnect after a
 * plain link failure (SUSPENDED) is counted and reported in the status (`reconnects`,
 * `lastReconnect.endOfBackup: false`), never taken for the end of a backup.
 *
 * Decision: only a mirror that was in sync when its link went down becomes a split (ONGOING with no
 * invalid track, or SUSPENDED by a write that failed while it was so). A secondary held during its
 * initial copy or a resync is not a point in time of the primary: the mirror stays SUSPENDED and its
 * `lastError` says so. The split image is crash-consistent: every write the primary acknowledged is
 * on it, none after; a host write in flight at the hold may be on it in part, as after a power loss
 * (the quiesce hooks, split-hooks.ts, make it consistent for an application).
 * Decision: "split by the secondary" is kept in memory only; after a restart of the primary the
 * mirror stays split (BACKUP) and is rejoined by hand (`mirror rejoin`).
 */
import { isSnaptapeError } from '../../errors/snaptape-error.js';
import { NbdReply } from '../../export/nbd-constants.js';

/** How the secondary's server words its refusal; the primary recognises a split by this start. */
export const SECONDARY_SPLIT_MARK = 'split by its secondary server for a backup';

/** The text a secondary's server holds its export with. */
export function secondarySplitReason(splitAt: string): string {
  return `${SECONDARY_SPLIT_MARK} since ${splitAt}`;
}

/** True for a handshake refused by a snaptape server that split this secondary. */
export function isSecondarySplitRefusal(error: unknown): boolean {
  if (!isSnaptapeError(error) || error.code !== 'NBD_PROTOCOL') return false;
  const message = error.details['serverMessage'];
  return error.details['replyType'] === NbdReply.ERR_POLICY && typeof message === 'string' && message.startsWith(SECONDARY_SPLIT_MARK);
}

export interface ReconnectRecord {
  readonly at: string;
  /** True when the reconnect ended a backup the secondary's server took; false for a link that came back. */
  readonly endOfBackup: boolean;
}

/** The status fields of a mirror about splits and reconnects (merged into MirrorStatus). */
export interface SecondarySplitStatus {
  /** Who split a mirror in BACKUP: its primary's operator or its secondary's server; null when not split. */
  readonly splitBy: 'primary' | 'secondary' | null;
  /** Reconnects of the link since the session started (each one reported, whatever its cause). */
  readonly reconnects: number;
  readonly lastReconnect: ReconnectRecord | null;
}

/** What the primary remembers of one mirror's link for secondary-side splits. Main thread only. */
export class SecondarySplitRecord {
  /** In BACKUP because the secondary's server split it. */
  bySecondary = false;
  /** The link was lost (a write failed) while the mirror was in sync: the secondary is a point in time. */
  lostInSync = false;
  private connectedBefore = false;
  private reconnectCount = 0;
  private last: ReconnectRecord | null = null;

  /** A link that came back: recorded and reported; returns whether it ends a secondary's backup. */
  reconnected(): boolean {
    const endOfBackup = this.bySecondary;
    if (!this.connectedBefore) {
      // The first connect of the session is no reconnect.
      this.connectedBefore = true;
      if (!endOfBackup) return false;
    }
    this.reconnectCount += 1;
    this.last = { at: new Date().toISOString(), endOfBackup };
    this.bySecondary = false;
    this.lostInSync = false;
    return endOfBackup;
  }

  status(state: string): SecondarySplitStatus {
    return {
      splitBy: state === 'BACKUP' ? (this.bySecondary ? 'secondary' : 'primary') : null,
      reconnects: this.reconnectCount,
      lastReconnect: this.last,
    };
  }
}
