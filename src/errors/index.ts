/**
 * The face of errors/: the typed error families and their exit codes. It re-exports what other
 * folders use; a module inside errors/ imports its neighbours directly.
 */
export { EXIT_STATUS_BY_CODE, EXIT_STATUS_INTERNAL } from './exit-codes.js';
export { translateIoError } from './io-error.js';
export {
  AddressRangeError,
  CartridgeProtectedError,
  DatasetError,
  ERROR_CODES,
  HookError,
  ImageFormatError,
  IoError,
  LibraryError,
  LockedError,
  NbdProtocolError,
  NoSpaceError,
  RecordNotFoundError,
  SessionError,
  SnaptapeError,
  TapeFormatError,
  TapeLabelError,
  TargetExistsError,
  TrackOverflowError,
  UsageError,
  VaultError,
  VerifyError,
  VtocError,
  errorFromData,
  isSnaptapeError,
  type ErrorCode,
  type ErrorData,
  type ErrorDetails,
} from './snaptape-error.js';
