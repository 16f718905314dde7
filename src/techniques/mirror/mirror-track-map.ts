/**
 * The track map of a mirror session (its `view()`): one secondary (M2..M4) at a time, sampled from the
 * session's track-status table and the marks of its current episode (mirror-map-recorder.ts):
 *
 *   'p'  the secondary's validity bit is clear: out of sync (split and written since, a link
 *        lost, or not yet copied), to be resent
 *   'i'  valid again, resent by the background copy (initial copy or resync), in track order
 *   'o'  valid again, resent by a host write through normal mirroring before the copy reached it
 *        (out of order); a resync's `copied` and `sentByWrites` count these two
 *   'x'  valid, and not part of this episode (in sync all along): "not in the session"
 * Upper case: the host wrote the primary's track since the mirror session started in this process.
 *
 * Which secondary: the one asked for, else the first being copied (COPY, BACKUP RETURN), else the
 * first out of sync (split or suspended), else M2.
 */
import { buildTrackMap, type TrackMapSnapshot } from '../../session/session-view.js';
import { COPYING_STATES } from './mirror-link-state.js';
import { RESYNC_MARK, type MirrorMapView } from './mirror-map-recorder.js';
import type { MirrorSessionStatus } from './mirror-types.js';

/** The secondary a map shows when none is named. */
export function defaultMapMirror(status: MirrorSessionStatus): string {
  const mirrors = status.mirrors;
  const pick = mirrors.find((m) => COPYING_STATES.has(m.state)) ?? mirrors.find((m) => !m.inSync) ?? mirrors[0];
  return pick?.mirror ?? 'M2';
}

export function sampleMirrorTrackMap(view: MirrorMapView): TrackMapSnapshot {
  const { table, mirror, marks } = view;
  return buildTrackMap({
    kind: 'mirror',
    subject: view.name,
    geometry: view.geometry,
    hostWritten: view.hostWrites.hostWritten,
    hostWrites: view.hostWrites.hostWrites,
    codeOf: (u) => {
      if (!table.isValid(u, mirror)) return 'p';
      const mark = marks[u];
      if (mark === RESYNC_MARK.copied) return 'i';
      return mark === RESYNC_MARK.sentByWrite ? 'o' : 'x';
    },
  });
}
