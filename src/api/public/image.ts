/** `snaptape/image`: image formats, conversion between them, and injected faults. */
export { CCKD_COMPRESSION, type CckdCompression } from '../../image/cckd-layouts.js';
export { convertImage } from '../../image/image-convert.js';
export { parseFaultPlan } from '../../image/fault-plan.js';
export { withInjectedVolume, withInjectedVolumeAsync } from '../fault-api.js';
