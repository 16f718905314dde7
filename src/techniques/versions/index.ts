/**
 * The face of techniques/versions/: the versions technique. It re-exports what other folders use; a module inside techniques/versions/ imports its
 * neighbours directly.
 */
export { createVersion, prepairVersion } from './version-create.js';
export { restoreFromVersion } from './version-restore.js';
