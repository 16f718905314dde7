/**
 * The face of ckd/: CKD track and record layouts. It re-exports what other folders use; a module
 * inside ckd/ imports its neighbours directly.
 */
export {
  decodeTrack,
  emptyTrack,
  encodeTrack,
  encodedTrackBytes,
  homeAddressOf,
  isEofRecord,
  numberRecords,
  trackUsedBytes,
  type CkdRecord,
  type CkdTrack,
} from './track-codec.js';
export { relocateTrackImage } from './track-relocate.js';
export { EMPTY_TRACK_BYTES, HOME_ADDRESS_LAYOUT } from './track-layout.js';
