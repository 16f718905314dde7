/**
 * The face of server/: `snaptape serve`: the volume server, its control API and session registry. It re-exports what other folders use; a module inside server/ imports its
 * neighbours directly.
 */
export { DEFAULT_NBD_SOCKET_SUFFIX, parseControlAddress, parseNbdAddress } from './listen-address.js';
export { VolumeServer } from './volume-server.js';
