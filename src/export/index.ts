/**
 * The face of export/: NBD export: the protocol server and its backends. It re-exports what other
 * folders use; a module inside export/ imports its neighbours directly.
 */
export { NbdClient } from './nbd-client.js';
export { MAX_EXPORTS } from './nbd-constants.js';
export { MAX_IDLE_TIMEOUT_MS, NbdServer, isLoopbackHost } from './nbd-server.js';
export { pskOf, readPskFile } from './nbd-tls.js';
export { VolumeBackend, exportNameFor } from './volume-backend.js';
export { dirtyContextName, dirtyTracksContext, isDirtyContextCheckpoint, type ChangedUnits } from './dirty-tracks-context.js';
export type { MetaContextExtent, MetaContextSource } from './nbd-meta-context.js';
