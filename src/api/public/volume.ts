/** `snaptape/volume`: create, open and describe volumes, and the data sets on them. */
export { createVolume, describeVolume, openVolume, withVolume, withVolumeAsync, type CreateVolumeOptions, type VolumeListing } from '../volume-api.js';
export { createMappedVolume } from '../../volume/mapped-volume.js';
export { makeScratchCopy } from '../../volume/scratch-copy.js';
export { allocateDataset, deleteDataset } from '../../vtoc/dataset-allocator.js';
export { parseDsorg, parseRecfm } from '../../vtoc/dataset-attributes.js';
export { getDataset, putDataset } from '../../vtoc/dataset-io.js';
export { fillVolume } from '../../vtoc/volume-fill.js';
export { familyByName } from '../../geometry/device-types.js';

// Info: what a path is (an image or a tape), its geometry, and the files beside it.
export { describePath, type Checkpoint, type ImageInfo, type PathInfo, type SideFile, type TapeInfo } from '../info/describe-path.js';
