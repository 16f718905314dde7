/**
 * Turns a Node system error (errno) into the typed error of its family, naming the file and what
 * was being done. ENOSPC and EDQUOT are "no space"; everything else is an I/O error.
 */
import { IoError, NoSpaceError, SnaptapeError } from './snaptape-error.js';

interface SystemErrorLike {
  readonly code?: string;
  readonly message?: string;
}

/** Turns a Node file-system error into the typed error of its family (NoSpaceError for ENOSPC, IoError otherwise), naming `action` and `path`; a SnaptapeError is returned as it is. */
export function translateIoError(cause: unknown, action: string, path: string): SnaptapeError {
  if (cause instanceof SnaptapeError) return cause;
  const sys = (cause ?? {}) as SystemErrorLike;
  const errno = typeof sys.code === 'string' ? sys.code : 'UNKNOWN';
  const details = { path, errno };
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new NoSpaceError(`Cannot ${action}: no space left on the device holding ${path}`, details);
  }
  const reason = errno === 'ENOENT' ? 'no such file' : errno === 'EACCES' ? 'permission denied' : (sys.message ?? errno);
  return new IoError(`Cannot ${action}: ${path}: ${reason}`, details);
}
