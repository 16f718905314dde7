/**
 * The face of techniques/snapshot/: the snapshot technique. It re-exports what other folders use; a module inside techniques/snapshot/ imports its
 * neighbours directly.
 */
export { runPhysicalCopy, type PhysicalCopyOptions } from './physical-copy.js';
export { type StatusResult, defineSnapshot, executeSnapshot, snapshotStatus } from './snapshot-protocol.js';
export { SnapshotSession } from './snapshot-session.js';
export { type PhysicalCopyPacing } from './snapshot-tokens.js';
