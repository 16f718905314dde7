/**
 * The one map from error code to CLI exit status. 0 is success and 1 is an unexpected crash
 * (a programmer error); every operating error has its own status so that scripts can tell them apart.
 */
import type { ErrorCode } from './snaptape-error.js';

export const EXIT_STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  USAGE: 2,
  IMAGE_FORMAT: 3,
  ADDRESS_RANGE: 4,
  RECORD_NOT_FOUND: 5,
  TRACK_OVERFLOW: 6,
  VTOC: 7,
  DATASET: 8,
  NO_SPACE: 9,
  LOCKED: 10,
  TAPE_FORMAT: 11,
  TAPE_LABEL: 12,
  TARGET_EXISTS: 13,
  IO: 14,
  SESSION: 15,
  VERIFY: 16,
  NBD_PROTOCOL: 17,
  HOOK: 18,
  CARTRIDGE_PROTECTED: 19,
  LIBRARY: 20,
  VAULT: 21,
};

/** Status for a crash that is not an operating error. */
export const EXIT_STATUS_INTERNAL = 1;
