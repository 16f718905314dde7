/**
 * The track map of a clone session (its `view()`), sampled from the clone's own bits, off the copy loop:
 *
 *   'x'  the track does not take part (extent mode: not in a chosen data set)
 *   'p'  IND set on the destination: the track is not yet there (pending, or being copied)
 *   'o'  copied on demand (COPIED_OOO): a source write or a destination read/write after ACTIVATE
 *        fetched it first, out of order
 *   'r'  copied again by the background copy after the precopy reopened it (the host wrote it
 *        after its precopy copy); the clone's `recopies` counts those reopenings
 *   'i'  copied by the background copy (precopy passes or after ACTIVATE), in order
 * Upper case: the host wrote the source track since CREATE.
 *
 * Decisions: pending is read from the IND column rather than CLONE PB, because IND belongs to the
 * session and keeps its last value after TERMINATE or cancel (the PB slot is cleared and may be
 * taken by another session), so a settled clone still has a true map; while the session holds its
 * slot, CLONE PB and IND are set for the same tracks (clone-session.ts's invariant). A track that
 * was re-copied and then fetched on demand is drawn 'o', so the 'o' count equals `copiedOnDemand`.
 */
import { UNIT_STATE } from '../../engine/track-state.js';
import { buildTrackMap, type TrackMapSnapshot } from '../../session/session-view.js';
import type { CloneMapView } from './clone-map-recorder.js';

export function sampleCloneTrackMap(view: CloneMapView): TrackMapSnapshot {
  const { included, states, ind, indColumn, recorder } = view;
  return buildTrackMap({
    kind: 'clone',
    geometry: view.geometry,
    hostWritten: recorder.hostWrites.hostWritten,
    hostWrites: recorder.hostWrites.hostWrites,
    codeOf: (u) => {
      if (included[u] !== 1) return 'x';
      if (ind.test(indColumn, u)) return 'p';
      if (states.state(u) === UNIT_STATE.COPIED_OOO) return 'o';
      return recorder.recopied[u] === 1 ? 'r' : 'i';
    },
  });
}
