/**
 * The face of techniques/restore/: the restore technique. It re-exports what other folders use; a module inside techniques/restore/ imports its
 * neighbours directly.
 */
export { checkTapeFinished, verifyBackupTape } from './backup-tape.js';
export { type RestoreResult, restoreTape } from './restore-tape.js';
export { labelMismatchError } from './tape-trust.js';
export { openTapeExport, TapeVolumeBackend } from './tape-volume-backend.js';
export { chainLinks, restoreChain, verifyChain, type ChainLink, type ChainRestoreResult, type ChainVerifyReport } from './restore-chain.js';
