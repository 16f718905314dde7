/** `snaptape/catalog`: the catalog of versions, pools and the volume inventory. */
export { createPool, listPools, listVolumes, parseTechnology, type PoolRole, type VolumeFacts } from '../../catalog/catalog-inventory.js';
export { getVersion, listBackupDatasets, listNotifications, listRecords, listStorageMedia, listVersions } from '../../catalog/catalog-records.js';
export { catalogPath, withCatalog } from '../../catalog/catalog.js';
