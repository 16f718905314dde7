/**
 * The public library API for volumes: create, open (volume/open-volume.ts) and describe.
 */
export { createVolume, openVolume, withVolume, withVolumeAsync, type CreateVolumeOptions } from '../volume/open-volume.js';
export { describeVolume, type DatasetListing, type ExtentListing, type VolumeListing } from '../vtoc/volume-listing.js';
