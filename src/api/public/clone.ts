/** `snaptape/clone`: clone a volume (PRECOPY, ACTIVATE, TERMINATE) and follow its status. */
export { readCloneStatus, resumeClone, runClone, type StoredCloneStatus } from '../clone-api.js';
export type { CloneStatus } from '../../techniques/clone/clone-session.js';
