/**
 * The face of volume/: the Volume over an image: opening and creating volumes, track sizes, write
 * interception. It re-exports what other folders use; a module inside volume/ imports its
 * neighbours directly.
 */
export { checkRoomForTrackWrites, hostFreeBytes } from './host-space.js';
export { createVolume, openVolume, withVolume, withVolumeAsync, type CreateVolumeOptions } from './open-volume.js';
export { createMappedVolume, openMappedVolume, sizeTableOf, type CreateMappedVolumeOptions } from './mapped-volume.js';
export { makeScratchCopy } from './scratch-copy.js';
export { sizeStorePath } from './track-size-store.js';
export { TrackSizeTable } from './track-size-table.js';
export { TrackUndo } from './track-undo.js';
export { Volume, type NewRecord } from './volume.js';
export { MAX_INTERCEPTORS, type WriteEvent, type WriteInterceptor, type WriteRange } from './write-interceptor.js';
