/**
 * The face of catalog/: the catalog of versions, pools and storage media. It re-exports what other
 * folders use; a module inside catalog/ imports its neighbours directly.
 */
export {
  createPool,
  deleteMember,
  getVolume,
  insertMember,
  listPools,
  listVolumes,
  parseTechnology,
  poolRole,
  poolVolumes,
  setSourceDatasets,
  type PoolRole,
  type Technology,
  type VolumeFacts,
  type VolumeRecord,
} from './catalog-inventory.js';
export {
  addNotification,
  deleteRecord,
  getVersion,
  listBackupDatasets,
  listNotifications,
  listRecords,
  listStorageMedia,
  listVersions,
  nextVersionNumber,
  pendingPprs,
  previousVersionOfPool,
  readRecord,
  writeRecord,
  type CopyPair,
  type PairRecord,
  type RecordBasis,
  type StorageMedium,
} from './catalog-records.js';
export { catalogPath, withCatalog, type Catalog, type Db } from './catalog.js';
