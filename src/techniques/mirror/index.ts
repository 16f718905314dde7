/**
 * The face of techniques/mirror/: the mirror technique. It re-exports what other folders use; a module inside techniques/mirror/ imports its
 * neighbours directly.
 */
export { MirrorSession } from './mirror-session.js';
export { mirrorFilePath } from './mirror-state-file.js';
export { type MirrorSessionStatus, type MirrorStatus } from './mirror-types.js';
