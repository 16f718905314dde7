/**
 * The face of techniques/tape-backup/: the tape-backup technique. It re-exports what other folders use; a module inside techniques/tape-backup/ imports its
 * neighbours directly.
 */
export { type BlockRange, FBA_BLOCKS_PER_TAPE_BLOCK } from './backup-elements.js';
export { type ElementDescription, type SourceDescription, parseDigest, parseElementDescription, parseSourceDescription } from './backup-labels.js';
export { type CbwErrorStatus } from './backup-types.js';
export { coveredLabelNames, labelDigestOf, labelsOnTape, parseLabelDigest } from './label-digest.js';
export { readSessionRecord, sessionRecordKey } from './session-record.js';
export { type BackupProgress, type BackupSummary, type TapeBackupOptions, TapeBackupSession } from './tape-backup-session.js';
