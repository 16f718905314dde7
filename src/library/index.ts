/**
 * The face of library/: a tape library of cartridges in slots and drives, its pools, retention
 * and WORM, kept in the catalog. It re-exports what other folders use; a module inside library/
 * imports its neighbours directly.
 */
export { checkCartridgeWritable, writeRefusal } from './cartridge-guard.js';
export {
  abandonRecall,
  beginRecall,
  cartridgeSet,
  cartridgeToVault,
  finishRecall,
  recordVaulted,
  commitPrivate,
  DEFAULT_POOL,
  DEFAULT_RETENTION_DAYS,
  ejectCartridge,
  expireCartridges,
  initLibrary,
  injectCartridge,
  listLibrary,
  mountCartridge,
  openLibrary,
  releaseScratch,
  setPool,
  takeScratch,
  unmountCartridge,
  type LibraryInitOptions,
  type LibraryListing,
} from './library-ops.js';
export { cartridgePath, LIBRARY_MARKER_FILE } from './library-marker.js';
export type { CartridgeLocation, CartridgeRecord, CartridgeState, LibraryPool, LibraryRecord } from './library-store.js';
export { barcodeOf, MEDIA_TYPES, MIN_CAPACITY_BYTES, mediaType, type MediaType } from './media-types.js';
