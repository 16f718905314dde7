/**
 * The face of image/: image files (CKD, CCKD, FBA, multi-file): opening, creating, converting,
 * checking, faults. It re-exports what other folders use; a module inside image/ imports its
 * neighbours directly.
 */
export { type CckdProblem } from './cckd-analysis.js';
export { checkImage, type CheckReport } from './cckd-check.js';
export { CCKD_DEVID_BASE, CCKD_DEVID_SHADOW } from './cckd-header.js';
export { CCKD_COMPRESSION, type CckdCompression } from './cckd-layouts.js';
export { CKD_DEVID_UNCOMPRESSED, CKD_HEADER_BYTES, decodeCkdHeader } from './ckd-image-header.js';
export { createImage } from './create-image.js';
export { DelegatingBackend } from './delegating-backend.js';
export { durableReplace, fsyncDirectory } from './durable-replace.js';
export { FaultInjector, parseFaultPlan, type FaultPlan } from './fault-plan.js';
export { FaultyBackend } from './faulty-backend.js';
export { type FileUnitLocation, type ImageBackend, type UnitLocation } from './image-backend.js';
export { convertImage } from './image-convert.js';
export { isProcessAlive, liveLockOwner, lockImage, lockOwnerOf, type ImageLock } from './image-lock.js';
export { openImage, type ImageFormat } from './open-image.js';
