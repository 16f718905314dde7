/**
 * The operating-error taxonomy. A programmer error is an `assert` (see base/assert.ts); everything a
 * user can cause (bad input, a locked image, a full disk) is one of these classes.
 *
 * Invariants:
 * - every class has a stable `code`, and `code` alone decides the CLI exit status (exit-codes.ts);
 * - the message reads "Cannot <action>: <state>" and names the file and the track, block or offset;
 * - an error survives a trip across a worker thread as plain data (`toData` / `errorFromData`).
 */

export type ErrorDetailValue = string | number | boolean | null;
export type ErrorDetails = Readonly<Record<string, ErrorDetailValue>>;

export const ERROR_CODES = [
  'USAGE',
  'IMAGE_FORMAT',
  'ADDRESS_RANGE',
  'RECORD_NOT_FOUND',
  'TRACK_OVERFLOW',
  'VTOC',
  'DATASET',
  'NO_SPACE',
  'LOCKED',
  'TAPE_FORMAT',
  'TAPE_LABEL',
  'TARGET_EXISTS',
  'IO',
  'SESSION',
  'VERIFY',
  'NBD_PROTOCOL',
  'HOOK',
  'CARTRIDGE_PROTECTED',
  'LIBRARY',
  'VAULT',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Plain-data form of an error, for postMessage and JSON output. */
export interface ErrorData {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: ErrorDetails;
}

/** The base of every typed snaptape error: a `code` (one per failure family, with its exit status), a message naming the file and location, and `details` as data. */
export abstract class SnaptapeError extends Error {
  abstract readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.details = details;
    this.name = new.target.name;
  }

  /** The error as plain data, as `--json` and the control API carry it; errorFromData turns it back. */
  toData(): ErrorData {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** Wrong command-line or API arguments. */
export class UsageError extends SnaptapeError {
  readonly code = 'USAGE';
}

/** An image file whose bytes are not a valid volume: bad header, truncated, geometry mismatch. */
export class ImageFormatError extends SnaptapeError {
  readonly code = 'IMAGE_FORMAT';
}

/** A CCHHR, track index or block number outside the volume. */
export class AddressRangeError extends SnaptapeError {
  readonly code = 'ADDRESS_RANGE';
}

/** A search for a record by its R number that found no such record on the track. */
export class RecordNotFoundError extends SnaptapeError {
  readonly code = 'RECORD_NOT_FOUND';
}

/** Records that do not fit on one track, by the device's capacity formula or the slot size. */
export class TrackOverflowError extends SnaptapeError {
  readonly code = 'TRACK_OVERFLOW';
}

/** A damaged VTOC: a missing Format-4, a DSCB that points outside the volume, a broken chain. */
export class VtocError extends SnaptapeError {
  readonly code = 'VTOC';
}

/** A data set that does not exist, already exists, or cannot hold what is put into it. */
export class DatasetError extends SnaptapeError {
  readonly code = 'DATASET';
}

/** No free space: on a volume (tracks, DSCBs) or on the host file system (ENOSPC). */
export class NoSpaceError extends SnaptapeError {
  readonly code = 'NO_SPACE';
}

/** An image that another process holds open for writing. */
export class LockedError extends SnaptapeError {
  readonly code = 'LOCKED';
}

/** An AWSTAPE/HET file whose block structure is broken. Names the block number and byte offset. */
export class TapeFormatError extends SnaptapeError {
  readonly code = 'TAPE_FORMAT';
}

/** A tape label with bad fields, or a label sequence that breaks the standard-label rules. */
export class TapeLabelError extends SnaptapeError {
  readonly code = 'TAPE_LABEL';
}

/** A target path that already holds something, written only with --force. */
export class TargetExistsError extends SnaptapeError {
  readonly code = 'TARGET_EXISTS';
}

/** A host I/O failure that is not one of the above (EIO, EACCES, ...). */
export class IoError extends SnaptapeError {
  readonly code = 'IO';
}

/** A session verb that its state does not allow, or a session that failed. */
export class SessionError extends SnaptapeError {
  readonly code = 'SESSION';
}

/** A verification that found different bytes (checksum mismatch, compare failure). */
export class VerifyError extends SnaptapeError {
  readonly code = 'VERIFY';
}

/** A malformed NBD handshake or request. */
export class NbdProtocolError extends SnaptapeError {
  readonly code = 'NBD_PROTOCOL';
}

/** A user's hook command (a mirror's --pre-split or --post-split) that failed, timed out or could not start. */
export class HookError extends SnaptapeError {
  readonly code = 'HOOK';
}

/** A write refused by a tape library: a WORM cartridge, or one whose retention has not expired. */
export class CartridgeProtectedError extends SnaptapeError {
  readonly code = 'CARTRIDGE_PROTECTED';
}

/** A tape library that cannot do what is asked: no scratch cartridge, no free drive, an unknown volser. */
export class LibraryError extends SnaptapeError {
  readonly code = 'LIBRARY';
}

/** An object store (the S3 vault) that refused, failed or returned bytes that do not match the cartridge. */
export class VaultError extends SnaptapeError {
  readonly code = 'VAULT';
}

const CLASS_BY_CODE: Record<ErrorCode, new (message: string, details?: ErrorDetails) => SnaptapeError> = {
  USAGE: UsageError,
  IMAGE_FORMAT: ImageFormatError,
  ADDRESS_RANGE: AddressRangeError,
  RECORD_NOT_FOUND: RecordNotFoundError,
  TRACK_OVERFLOW: TrackOverflowError,
  VTOC: VtocError,
  DATASET: DatasetError,
  NO_SPACE: NoSpaceError,
  LOCKED: LockedError,
  TAPE_FORMAT: TapeFormatError,
  TAPE_LABEL: TapeLabelError,
  TARGET_EXISTS: TargetExistsError,
  IO: IoError,
  SESSION: SessionError,
  VERIFY: VerifyError,
  NBD_PROTOCOL: NbdProtocolError,
  HOOK: HookError,
  CARTRIDGE_PROTECTED: CartridgeProtectedError,
  LIBRARY: LibraryError,
  VAULT: VaultError,
};

/** Rebuilds a typed error from its plain-data form (the inverse of `toData`). */
export function errorFromData(data: ErrorData): SnaptapeError {
  const ErrorClass = CLASS_BY_CODE[data.code] ?? IoError;
  return new ErrorClass(data.message, data.details);
}

/** Whether `value` is a typed snaptape error. */
export function isSnaptapeError(value: unknown): value is SnaptapeError {
  return value instanceof SnaptapeError;
}
