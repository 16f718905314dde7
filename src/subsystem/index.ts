/**
 * The face of subsystem/: mapped subsystems: track pools, track directories and mapped volumes. It
 * re-exports what other folders use; a module inside subsystem/ imports its neighbours directly.
 */
export { readMappedTrack } from './mapped-track-read.js';
export { MappedVolumeBackend } from './mapped-volume-backend.js';
export { checkVolumeName, isMappedVolumePath, subsystemDirOf } from './mapped-volumes.js';
export { createPin, markPinDone, pinPath } from './slot-pins.js';
export { checkSubsystem, poolUsage, type CheckReport } from './subsystem-check.js';
export { DIRECTORY_MAGIC, ENTRY_FLAG_RELOCATED, POOL_FILE, TOKENS_DIR, UNALLOCATED_SLOT } from './subsystem-layouts.js';
export { TrackDirectory } from './track-directory.js';
export { PoolReader, initSubsystem } from './track-pool.js';
