/** `snaptape/check`: check an image, a tape or a subsystem folder and report every problem. */
export { runCheck } from '../../check/run-check.js';
export type { CheckReport } from '../../check/check-report.js';
