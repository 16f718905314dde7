/** `snaptape/library`: tape libraries of cartridges, pools, retention and WORM, and backups to them. */
export {
  barcodeOf,
  ejectCartridge,
  expireCartridges,
  initLibrary,
  injectCartridge,
  listLibrary,
  MEDIA_TYPES,
  mountCartridge,
  setPool,
  unmountCartridge,
  DEFAULT_POOL,
  DEFAULT_RETENTION_DAYS,
  type CartridgeLocation,
  type CartridgeRecord,
  type CartridgeState,
  type LibraryInitOptions,
  type LibraryListing,
  type LibraryPool,
  type LibraryRecord,
  type MediaType,
} from '../../library/index.js';
export { joinTapeVolumes, spanTape, type SpannedVolume } from '../../tape/multi-volume.js';
export { backupToLibrary, libraryTape, type LibraryBackupRun, type LibraryBackupTarget, type LibraryTape } from '../library-api.js';
export {
  hasVaultedCartridges,
  recallLibraryCartridge,
  vaultLibraryCartridge,
  vaultedSetTape,
  verifyVaultedSet,
  type CartridgeCheck,
  type LibraryVaultResult,
  type VaultedSetCheck,
  type VaultedSetTape,
} from '../library-vault-api.js';
