/**
 * The library's public face: what the CLI (and any other client) uses. The CLI imports only this
 * file and errors/; everything it reaches goes through here, grouped by what it is for.
 */

// Volumes: create, open, describe, and the data sets on them.
export { createVolume, describeVolume, openVolume, withVolume, withVolumeAsync, type CreateVolumeOptions, type VolumeListing } from './volume-api.js';
export { createMappedVolume } from '../volume/mapped-volume.js';
export { makeScratchCopy } from '../volume/scratch-copy.js';
export { allocateDataset, deleteDataset } from '../vtoc/dataset-allocator.js';
export { parseDsorg, parseRecfm } from '../vtoc/dataset-attributes.js';
export { getDataset, putDataset } from '../vtoc/dataset-io.js';
export { fillVolume } from '../vtoc/volume-fill.js';
export { familyByName } from '../geometry/device-types.js';

// Info: what a path is, its geometry, and the files beside it.
export { describePath, type Checkpoint, type ImageInfo, type PathInfo, type SideFile, type TapeInfo } from './info/describe-path.js';

// Images: formats, conversion, injected faults.
export { CCKD_COMPRESSION, type CckdCompression } from '../image/cckd-layouts.js';
export { convertImage } from '../image/image-convert.js';
export { parseFaultPlan } from '../image/fault-plan.js';
export { withInjectedVolume, withInjectedVolumeAsync } from './fault-api.js';

// Subsystems (track pools and mapped volumes).
export { checkSubsystem, poolUsage, type CheckReport as SubsystemCheckReport } from '../subsystem/subsystem-check.js';
export { initSubsystem } from '../subsystem/track-pool.js';

// Tapes.
export { extractDataSet } from '../tape/extract-data-set.js';
export { initTape } from '../tape/init-tape.js';
export { listTape, type TapeListing } from '../tape/list-tape.js';
export { putHostFile } from '../tape/put-host-file.js';

// Check.
export { runCheck } from '../check/run-check.js';
export type { CheckReport } from '../check/check-report.js';

// Techniques: backup, restore, clone, mirror, snapshot, versions, drills.
export { runBackup, type BackupRun } from './backup-api.js';
export type { BackupProgress, BackupSummary } from '../techniques/tape-backup/tape-backup-session.js';
export type { BlockRange } from '../techniques/tape-backup/backup-elements.js';
export { checkTapeFinished, verifyBackupTape } from '../techniques/restore/backup-tape.js';
export { restoreTape } from '../techniques/restore/restore-tape.js';
export { labelMismatchError } from '../techniques/restore/tape-trust.js';
export { readCloneStatus, resumeClone, runClone, type StoredCloneStatus } from './clone-api.js';
export type { CloneStatus } from '../techniques/clone/clone-session.js';
export type { MirrorSessionStatus, MirrorStatus } from '../techniques/mirror/mirror-types.js';
export { runPhysicalCopy } from '../techniques/snapshot/physical-copy.js';
export type { PhysicalCopyPacing } from '../techniques/snapshot/snapshot-tokens.js';
export { defineSnapshot, executeSnapshot, snapshotStatus, type StatusResult } from '../techniques/snapshot/snapshot-protocol.js';
export { createVersion, prepairVersion } from '../techniques/versions/version-create.js';
export { restoreFromVersion } from '../techniques/versions/version-restore.js';
export { compareImages, runDrill, type DrillReport } from './drill-api.js';
export { parseLoadSpec } from '../workload/host-load.js';

// Catalog (versions, pools, inventory).
export {
  addToPool,
  createPool,
  listPools,
  listVolumes,
  parseTechnology,
  removeFromPool,
  type PoolRole,
  type VolumeFacts,
} from '../catalog/catalog-inventory.js';
export { getVersion, listBackupDatasets, listNotifications, listRecords, listStorageMedia, listVersions } from '../catalog/catalog-records.js';
export { catalogPath, withCatalog } from '../catalog/catalog.js';

// Serving volumes and the control API.
export { ControlClient, parseControlEndpoint } from './control-client.js';
export type { ServeNbdAddress, SessionInfo } from '../control-api/index.js';
export { VolumeServer } from '../server/volume-server.js';
export { DEFAULT_NBD_SOCKET_SUFFIX, parseControlAddress, parseNbdAddress } from '../server/listen-address.js';
export { MAX_IDLE_TIMEOUT_MS } from '../export/nbd-server.js';
export { exportNameFor } from '../export/volume-backend.js';

// Progress, maps and reports.
export type { OnPhaseProgress, PhaseProgress, ProgressPhase } from '../base/phase-progress.js';
export { createEventLogger } from '../base/log.js';
export { LocalEventWriter } from '../live/progress-events.js';
export { readFinishedMap } from '../session/finished-map.js';
export { writeReport } from './html-report.js';
export { renderTrackMapSvg } from '../live/track-map-svg.js';
export { legendFor, type TrackMapSnapshot } from '../session/session-view.js';
