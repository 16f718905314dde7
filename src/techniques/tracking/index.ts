/**
 * The face of techniques/tracking/: durable change tracking with checkpoints, and where a backup
 * tape sits in a chain. It re-exports what other folders use; a module inside techniques/tracking/
 * imports its neighbours directly.
 */
export { ChangeTracker, changedUnitsSince, trackerOf } from './change-tracker.js';
export { readTapeChain, type TapeChainInfo, type TapeUnitRun } from './tape-chain-info.js';
export { isTracked, readTrackingState, type Checkpoint, type TrackingState } from './tracking-file.js';
