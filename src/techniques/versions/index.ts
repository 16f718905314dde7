/**
 * The face of techniques/versions/: the versions technique. It re-exports what other folders use; a module inside techniques/versions/ imports its
 * neighbours directly.
 */
export { createVersion, prepairVersion, unprepairVersion } from './version-create.js';
export { joinPool, leavePool } from './pool-membership.js';
export { volumeFacts } from './volume-facts.js';
export { restoreFromVersion } from './version-restore.js';
