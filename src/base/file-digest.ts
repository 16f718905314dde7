/**
 * The SHA-256 of a whole file, read in 8 MiB sequential steps into one reused buffer: what a
 * cartridge's catalog row and its vault manifest both record, computed one way.
 */
import { createHash } from 'node:crypto';
import { closeSync } from 'node:fs';
import { openRegularFile, readAtMost } from './file-io.js';

const READ_STEP_BYTES = 8 * 1024 * 1024;

export interface FileDigest {
  readonly sha256: string;
  readonly sizeBytes: number;
}

/** Hashes `path` up to the size it had when opened; `what` names the file in an I/O error. */
export function fileSha256(path: string, what: string): FileDigest {
  const { fd, sizeBytes } = openRegularFile(path, what);
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(READ_STEP_BYTES);
    for (let at = 0; at < sizeBytes;) {
      const got = readAtMost(fd, buffer.subarray(0, Math.min(READ_STEP_BYTES, sizeBytes - at)), at, path, what);
      if (got === 0) break;
      hash.update(buffer.subarray(0, got));
      at += got;
    }
    return { sha256: hash.digest('hex'), sizeBytes };
  } finally {
    closeSync(fd);
  }
}
