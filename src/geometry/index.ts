/**
 * The face of geometry/: device types, volume geometry, CCHH addresses and track capacity. It re-
 * exports what other folders use; a module inside geometry/ imports its neighbours directly.
 */
export { cchhOf, checkCchh, checkTrackIndex, formatCchh, formatCchhr, trackIndexOf, type Cchh, type Cchhr } from './cchh.js';
export { FBA_BLOCK_BYTES, MAX_CKD_CYLINDERS, TRACKS_PER_CYLINDER, familyByDevtypeByte, familyByName, type CkdFamily } from './device-types.js';
export { cellsUsed, recordsFit, recordsPerTrack, trackBalanceBytes } from './track-capacity.js';
export { ckdGeometry, fbaGeometry, parseGeometry, unitCount, unitSlotBytes, type CkdGeometry, type VolumeGeometry } from './volume-geometry.js';
