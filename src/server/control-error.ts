/**
 * Failures of the control API and their HTTP form. A request fails either with a `ControlError`
 * (the API's own: bad JSON, unknown session, missing token) or with a SnaptapeError from the
 * library (a tape that exists, a verb the session's state refuses). Both become one JSON body,
 * `{ "error": { "code", "message", "details"? } }`, with the status of the table below.
 *
 * Anything else is a bug: it is answered 500 INTERNAL, with its first line only.
 */
import { isSnaptapeError, type ErrorCode, type ErrorDetails, type SnaptapeError } from '../errors/snaptape-error.js';
import type { ApiErrorBody, ControlErrorCode } from '../control-api/control-api-types.js';

export const STATUS_BY_CONTROL_CODE: Readonly<Record<ControlErrorCode, number>> = {
  BAD_JSON: 400,
  BAD_REQUEST: 400,
  BODY_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNKNOWN_VOLUME: 404,
  UNKNOWN_SESSION: 404,
  TOO_MANY: 429,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
};

/** HTTP status of each library error code; an unlisted code is a server-side failure (500). */
const STATUS_BY_ERROR_CODE: Partial<Record<ErrorCode, number>> = {
  USAGE: 400,
  ADDRESS_RANGE: 400,
  DATASET: 400,
  SESSION: 409,
  TARGET_EXISTS: 409,
  LOCKED: 409,
  NO_SPACE: 507,
  VTOC: 422,
  IMAGE_FORMAT: 422,
  TRACK_OVERFLOW: 422,
  RECORD_NOT_FOUND: 422,
};

export class ControlError extends Error {
  readonly code: ControlErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ControlErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'ControlError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return STATUS_BY_CONTROL_CODE[this.code];
  }
}

export interface ApiFailure {
  readonly status: number;
  readonly body: ApiErrorBody;
}

/**
 * I/O errors that a request's own path caused (a tape in a directory that does not exist, a path
 * through a file, no permission): the client's to fix, so 400, not a server failure.
 */
const CLIENT_PATH_ERRNOS: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'EROFS', 'ENAMETOOLONG', 'ELOOP']);

function statusOf(error: SnaptapeError): number {
  if (error.code === 'IO' && CLIENT_PATH_ERRNOS.has(String(error.details['errno']))) return 400;
  return STATUS_BY_ERROR_CODE[error.code] ?? 500;
}

export function apiFailureFor(error: unknown): ApiFailure {
  if (error instanceof ControlError) {
    return { status: error.status, body: { error: { code: error.code, message: error.message, details: error.details } } };
  }
  if (isSnaptapeError(error)) {
    return { status: statusOf(error), body: { error: { code: error.code, message: error.message, details: error.details } } };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, body: { error: { code: 'INTERNAL', message: `Cannot complete the request: internal error: ${message.split('\n')[0] ?? ''}` } } };
}
