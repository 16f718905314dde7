/** `snaptape/vault`: cartridges kept in an S3 object store, recalled whole or restored from in place. */
export { recallTape, restoreFromVault, vaultTape, type RecallResult, type VaultOptions, type VaultRestoreResult, type VaultResult } from '../vault-api.js';
export { parseVaultManifest, type VaultManifest, type VaultedDataSet } from '../../vault/index.js';
