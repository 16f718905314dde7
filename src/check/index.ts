/**
 * The face of check/: `check`: finding and repairing damage in images, tapes and subsystems. It
 * re-exports what other folders use; a module inside check/ imports its neighbours directly.
 */
export { type CheckReport } from './check-report.js';
export { runCheck } from './run-check.js';
