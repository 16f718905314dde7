/**
 * The face of techniques/clone/: the clone technique. It re-exports what other folders use; a module inside techniques/clone/ imports its
 * neighbours directly.
 */
export { FINAL_CLONE_PHASES } from './clone-phase.js';
export { type CloneRecord, PERSISTED_COLUMNS, countCloneBitmap, readCloneRecord } from './clone-record.js';
export { type CloneResumePlan, findCloneToResume, restoreCloneToResume } from './clone-resume.js';
export { MAX_PRECOPY_WAIT_MS, type RunCloneOptions, type RunCloneResult, finishClone, runClone } from './clone-run.js';
export { CloneSession, type CloneStatus } from './clone-session.js';
