/** `snaptape/server`: serve volumes over NBD, and the control API's client (sessions, mirrors). */
export { ControlClient, parseControlEndpoint } from '../control-client.js';
export type { SecondarySplitInfo, ServeNbdAddress, SessionInfo } from '../../control-api/index.js';
export type { MirrorSessionStatus, MirrorStatus } from '../../techniques/mirror/mirror-types.js';
export type { SecondarySplitStatus } from '../../techniques/mirror/secondary-split.js';
export { HOOK_TIMEOUT_MS, runSplitHook, splitBetweenHooks } from '../../techniques/mirror/split-hooks.js';
export type { SplitHookContext, SplitHookPhase, SplitHookResult, SplitHooks } from '../../techniques/mirror/split-hooks.js';
export { VolumeServer } from '../../server/volume-server.js';
export { DEFAULT_NBD_SOCKET_SUFFIX, parseControlAddress, parseNbdAddress } from '../../server/listen-address.js';
export { MAX_IDLE_TIMEOUT_MS } from '../../export/nbd-server.js';
export { exportNameFor } from '../../export/volume-backend.js';
