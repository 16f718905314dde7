/**
 * The face of vault/: cartridges kept in an S3 object store (the library's vault), with a manifest
 * beside each, recalled whole or read in place by ranged GETs.
 */
export { createVaultClient, type VaultClientOptions } from './s3-client.js';
export { cartridgeKey, manifestKey, parseS3Url, s3Url, type S3Location } from './s3-location.js';
export {
  fetchCartridgeBlocks,
  labelBlockNumbers,
  objectSha256,
  readVaultManifest,
  recallCartridge,
  type FetchResult,
  type RecallResult,
} from './vault-fetch.js';
export { buildVaultManifest, manifestIndex, parseVaultManifest, type VaultManifest, type VaultedDataSet } from './vault-manifest.js';
export { vaultCartridge, type VaultOptions, type VaultResult } from './vault-upload.js';
