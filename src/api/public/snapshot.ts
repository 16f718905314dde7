/** `snaptape/snapshot`: instant snapshots by track pointers between mapped volumes. */
export { runPhysicalCopy, type PhysicalCopyOptions } from '../../techniques/snapshot/physical-copy.js';
export type { PhysicalCopyPacing } from '../../techniques/snapshot/snapshot-tokens.js';
export { defineSnapshot, executeSnapshot, snapshotStatus, type StatusResult } from '../../techniques/snapshot/snapshot-protocol.js';
