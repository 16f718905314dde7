/** `snaptape/backup`: point-in-time backup to tape, verify, restore, and restore drills. */
export { runBackup, type BackupRun } from '../backup-api.js';
export type { BackupProgress, BackupSummary } from '../../techniques/tape-backup/tape-backup-session.js';
export type { BlockRange } from '../../techniques/tape-backup/backup-elements.js';
export { checkTapeFinished, verifyBackupTape } from '../../techniques/restore/backup-tape.js';
export { restoreTape } from '../../techniques/restore/restore-tape.js';
export { labelMismatchError } from '../../techniques/restore/tape-trust.js';
export { compareImages, runDrill, type CompareOptions, type DrillReport } from '../drill-api.js';
export { parseLoadSpec } from '../../workload/host-load.js';

// Change tracking, incrementals and chains of tapes (issue 23).
export { trackVolume, trackingStatus, type TrackingCheckpoint, type TrackingStatus } from '../tracking-api.js';
export { changedUnitsSince } from '../../techniques/tracking/change-tracker.js';
export { readTapeChain, type TapeChainInfo, type TapeUnitRun } from '../../techniques/tracking/tape-chain-info.js';
export { restoreChain, verifyChain, type ChainLink, type ChainRestoreResult, type ChainVerifyReport } from '../../techniques/restore/restore-chain.js';
