/**
 * The counters the live page shows beside the map, per session type: each is a DOM id
 * (`c-<id>`, what test/live reads), a label, and where its value is, as a dotted path into
 *   `session`  the SessionInfo (`session.state`),
 *   `progress` its progress (a BackupProgress, a CloneStatus, a MirrorSessionStatus),
 *   `mirror`   for a mirror session, the MirrorStatus of the secondary the map shows,
 *   `map`      the last track map sampled (`map.hostWrites`, `map.subject`).
 * A value that is missing shows as "-". Data only: live-page-script.ts reads it as JSON.
 */
import type { SessionType } from '../control-api/control-api-types.js';

export interface LiveCounter {
  readonly id: string;
  readonly label: string;
  readonly path: string;
  /** Digits after the point, for a rate. */
  readonly fixed?: number;
}

const STATE: LiveCounter = { id: 'state', label: 'state', path: 'session.state' };
const HOST_WRITES: LiveCounter = { id: 'hostWrites', label: 'host writes since the start', path: 'map.hostWrites' };

export const LIVE_COUNTERS: Readonly<Record<SessionType, readonly LiveCounter[]>> = {
  backup: [
    STATE,
    { id: 'copiedInOrder', label: 'copied in order', path: 'progress.copiedInOrder' },
    { id: 'copiedOutOfOrder', label: 'copied out of order', path: 'progress.copiedOutOfOrder' },
    { id: 'slotsTotal', label: 'slots in the session', path: 'progress.slotsTotal' },
    { id: 'bytesCopied', label: 'bytes copied', path: 'progress.bytesCopied' },
    { id: 'bytesTotal', label: 'bytes in the session', path: 'progress.bytesTotal' },
    { id: 'mbPerSecond', label: 'average MB/s', path: 'progress.mbPerSecond', fixed: 1 },
    HOST_WRITES,
  ],
  clone: [
    STATE,
    { id: 'phase', label: 'clone phase', path: 'progress.phase' },
    { id: 'tracksTotal', label: 'tracks in the clone', path: 'progress.tracksTotal' },
    { id: 'tracksLeft', label: 'tracks left (CLONE PB)', path: 'progress.tracksLeft' },
    { id: 'indirect', label: 'indirect on the destination (IND)', path: 'progress.indirect' },
    { id: 'precopied', label: 'precopied (PRECOPY PB)', path: 'progress.precopied' },
    { id: 'recopies', label: 're-copies', path: 'progress.recopies' },
    { id: 'copiedInBackground', label: 'copied by the background copy', path: 'progress.copiedInBackground' },
    { id: 'copiedOnDemand', label: 'copied on demand', path: 'progress.copiedOnDemand' },
    { id: 'bytesCopied', label: 'bytes copied', path: 'progress.bytesCopied' },
    HOST_WRITES,
  ],
  mirror: [
    STATE,
    { id: 'mirror', label: 'mirror shown', path: 'map.subject' },
    { id: 'linkState', label: 'link state', path: 'mirror.state' },
    { id: 'invalidTracks', label: 'tracks out of sync', path: 'mirror.invalidTracks' },
    { id: 'resyncTotal', label: 'to resend at the copy start', path: 'mirror.resync.total' },
    { id: 'resyncCopied', label: 'resent by the copy', path: 'mirror.resync.copied' },
    { id: 'resyncSentByWrites', label: 'resent by host writes', path: 'mirror.resync.sentByWrites' },
    HOST_WRITES,
  ],
  snapshot: [STATE],
};
