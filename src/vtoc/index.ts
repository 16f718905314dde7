/**
 * The face of vtoc/: the VTOC and data sets: labels, DSCBs, allocation, data set I/O and name
 * patterns. It re-exports what other folders use; a module inside vtoc/ imports its neighbours
 * directly.
 */
export { allocateDataset, checkAllocationsFit, deleteDataset, deleteDatasets, type AllocateRequest } from './dataset-allocator.js';
export { checkDatasetName, checkVolser, dsorgName, parseDsorg, parseRecfm, recfmName } from './dataset-attributes.js';
export { getDataset, putDataset } from './dataset-io.js';
export { datasetPatternRegExp, matchesAnyPattern } from './dataset-pattern.js';
export { datasetRuns, datasetTrackIndexes } from './dataset-tracks.js';
export { guardDatasetWrites, writePlanOf } from './dataset-write-guard.js';
export {
  VTOCI_FREE_SPACE_INVALID,
  decodeFormat1,
  decodeFormat3,
  decodeFormat4,
  decodeFormat5,
  dscbFormatId,
  encodeFormat1,
  isFormat3Key,
  type Format1,
  type Format4,
} from './dscb-codec.js';
export { formatDscbDate } from './dscb-date.js';
export { DISK_VOL1_LAYOUT, DSCB_DATA_BYTES, DSCB_FORMAT, DSCB_KEY_BYTES } from './dscb-layouts.js';
export { findRunOverlaps, labelTrackRun, ownedRunText, tracksText, vtocOwnedRun, type OwnedRun } from './extent-overlap.js';
export { decodeCchhr, extentRun, isNullCchhr, type Extent, type TrackRun } from './extent.js';
export { freeRuns, summarizeFreeSpace, usedTrackMap, type FreeSpaceSummary } from './free-space.js';
export { fillVolume } from './volume-fill.js';
export { initializeNewVolume } from './volume-init.js';
export { VOL1_RECORD, encodeVol1, readVolumeLabel } from './volume-label.js';
export { findDataset, isNoVtocError, readVtoc, type DatasetEntry } from './vtoc-reader.js';
export { fitVtocToVolume, refreshVtocSummary, writeDscb } from './vtoc-writer.js';
