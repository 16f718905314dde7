/**
 * Every positioned read and write of a file goes through here, with one rule for a short transfer:
 * `readSync`, `writeSync` and `writevSync` may move fewer bytes than asked, so each is called again
 * for the rest until all of it is done.
 * - A read that reaches the end of the file first is an I/O error naming the file and the byte
 *   offset, or the error `shortRead` makes (a CCKD file that ends inside its own tables is damaged,
 *   not an I/O failure). `readAtMost` is the one read that may stop at the end of the file: for
 *   probes of a header or a window whose file may be shorter.
 * - A write that makes no progress (0 bytes, no errno) is an I/O error naming the file and the byte
 *   offset; a full file system is a NoSpaceError, as every errno is translated (io-error.ts).
 * - A side file read whole (a record, a table) is opened with `openRegularFile`: never blocking in
 *   the open, and refused unless it is a regular file (a FIFO put in its place would hang the
 *   process in a way no SIGTERM ends; a device would never end). `readRegularFile` reads one
 *   whole, and refuses it from its size, unread, past a bound (a sparse file of gigabytes costs
 *   its maker nothing).
 */
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  read,
  readSync,
  renameSync,
  write,
  writeSync,
  writev,
  writevSync,
} from 'node:fs';
import { open as openAsync, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IoError, type SnaptapeError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';

/** Fills `into` from byte `positionBytes` of the file, or throws. */
export function readFully(
  fd: number,
  into: Uint8Array,
  positionBytes: number,
  path: string,
  what = 'the source',
  shortRead?: (endOffsetBytes: number) => SnaptapeError,
): void {
  const done = readAtMost(fd, into, positionBytes, path, what);
  if (done < into.length) {
    throw shortRead?.(positionBytes + done) ?? translateIoError({ code: 'EIO', message: `${what} ends at byte ${positionBytes + done}` }, `read ${what}`, path);
  }
}

/**
 * `readFully` on the libuv thread pool: the calling thread goes on while the disk works, and
 * several such reads run at once. The caller keeps `fd` open until the promise settles.
 */
export async function readFullyAsync(fd: number, into: Uint8Array, positionBytes: number, path: string, what = 'the source'): Promise<void> {
  let done = 0;
  // Bounded: every pass either reads at least one byte or throws.
  while (done < into.length) {
    const at = positionBytes + done;
    const n = await new Promise<number>((resolve, reject) =>
      read(fd, into, done, into.length - done, at, (error, bytes) => {
        if (error) reject(translateIoError(error, `read ${what} at byte ${at}`, path));
        else resolve(bytes);
      }),
    );
    if (n === 0) throw translateIoError({ code: 'EIO', message: `${what} ends at byte ${at}` }, `read ${what}`, path);
    done += n;
  }
}

/** Reads into `into` until it is full or the file ends; returns the bytes read. */
export function readAtMost(fd: number, into: Uint8Array, positionBytes: number, path: string, what = 'the file'): number {
  let done = 0;
  // Bounded: every pass either reads at least one byte or stops.
  while (done < into.length) {
    let n: number;
    try {
      n = readSync(fd, into, done, into.length - done, positionBytes + done);
    } catch (error) {
      throw translateIoError(error, `read ${what} at byte ${positionBytes + done}`, path);
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all of `data` at byte `positionBytes` of the file, or throws. */
export function writeFully(fd: number, data: Uint8Array, positionBytes: number, path: string, what = 'the file'): void {
  let done = 0;
  // Bounded: every pass either writes at least one byte or throws.
  while (done < data.length) {
    let n: number;
    try {
      n = writeSync(fd, data, done, data.length - done, positionBytes + done);
    } catch (error) {
      throw translateIoError(error, `write ${what} at byte ${positionBytes + done}`, path);
    }
    if (n <= 0) throw noProgress(what, positionBytes + done, path);
    done += n;
  }
}

/**
 * `writeFully` on the libuv thread pool, with the same rule for a short write: the calling thread
 * goes on while the disk works, and several such writes run at once. The caller keeps `fd` open
 * and `data` unchanged until the promise settles.
 */
export async function writeFullyAsync(fd: number, data: Uint8Array, positionBytes: number, path: string, what = 'the file'): Promise<void> {
  let done = 0;
  // Bounded: every pass either writes at least one byte or throws.
  while (done < data.length) {
    const at = positionBytes + done;
    const n = await new Promise<number>((resolve, reject) =>
      write(fd, data, done, data.length - done, at, (error, bytes) => {
        if (error) reject(translateIoError(error, `write ${what} at byte ${at}`, path));
        else resolve(bytes);
      }),
    );
    if (n <= 0) throw noProgress(what, at, path);
    done += n;
  }
}

/**
 * A pipe that another process set non-blocking (a shared stderr) answers EAGAIN while it is full:
 * `appendAtMost` tries again this many times, a millisecond apart, before it gives up.
 */
const APPEND_AGAIN_TRIES = 100;
const AGAIN_WAIT = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes `data` at the file's current position (a file opened to append, a pipe, stderr), the rest
 * again after a short write, until all is written or a write fails; returns the bytes written. A
 * failure goes to `failed` (translated) instead of being thrown: for a log, which must not stop its
 * program when the disk is full, and needs to know where a line was cut.
 */
export function appendAtMost(fd: number, data: Uint8Array, path: string, failed: (error: SnaptapeError) => void, what = 'the file'): number {
  let done = 0;
  let again = 0;
  // Bounded: every pass writes at least one byte, or waits (APPEND_AGAIN_TRIES times at most), or stops.
  while (done < data.length) {
    let n: number;
    try {
      n = writeSync(fd, data, done, data.length - done);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EAGAIN' && again < APPEND_AGAIN_TRIES) {
        again += 1;
        Atomics.wait(AGAIN_WAIT, 0, 0, 1);
        continue;
      }
      failed(translateIoError(error, `append to ${what}`, path));
      return done;
    }
    if (n <= 0) {
      failed(noProgress(what, done, path));
      return done;
    }
    done += n;
  }
  return done;
}

/** Writes the buffers back to back from byte `positionBytes` (one syscall when it all fits), or throws. */
export function writevFully(fd: number, buffers: readonly Uint8Array[], positionBytes: number, path: string, what = 'the file'): void {
  let pending = buffers.filter((b) => b.length > 0);
  let at = positionBytes;
  // Bounded: every pass either writes at least one byte or throws.
  while (pending.length > 0) {
    let n: number;
    try {
      n = writevSync(fd, pending as Uint8Array[], at);
    } catch (error) {
      throw translateIoError(error, `write ${what} at byte ${at}`, path);
    }
    if (n <= 0) throw noProgress(what, at, path);
    at += n;
    pending = dropWritten(pending, n);
  }
}

/**
 * `writevFully` on the libuv thread pool (one pwritev where it all goes at once), with the same
 * rule for a short write: the rest goes again from where it stopped. The caller keeps `fd` open and
 * the buffers unchanged until the promise settles.
 */
export async function writevFullyAsync(fd: number, buffers: readonly Uint8Array[], positionBytes: number, path: string, what = 'the file'): Promise<void> {
  let pending = buffers.filter((b) => b.length > 0);
  let at = positionBytes;
  // Bounded: every pass either writes at least one byte or throws.
  while (pending.length > 0) {
    const from = at;
    const n = await new Promise<number>((resolve, reject) =>
      writev(fd, pending as Uint8Array[], from, (error, bytes) => {
        if (error) reject(translateIoError(error, `write ${what} at byte ${from}`, path));
        else resolve(bytes);
      }),
    );
    if (n <= 0) throw noProgress(what, from, path);
    at += n;
    pending = dropWritten(pending, n);
  }
}

/** What is left of `buffers` after their first `written` bytes. */
function dropWritten(buffers: readonly Uint8Array[], written: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = written;
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    rest.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return rest;
}

function noProgress(what: string, atBytes: number, path: string): IoError {
  return new IoError(`Cannot write ${what} at byte ${atBytes}: ${path}: the write made no progress`, { path, offset: atBytes });
}

/** How `openRegularFile` opens a side file that snaptape itself keeps beside an image or a tape. */
export interface SideFileOpen {
  /**
   * A symbolic link in the file's place is refused (O_NOFOLLOW), not followed: whoever can write
   * the directory could otherwise point snaptape's writes at another file of theirs to choose.
   * Opened `writable`, a file with more than one link (a hard link to another name) is refused
   * too: its bytes are that other file's, which snaptape's writes (or emptying) would change.
   */
  readonly noFollow?: boolean;
  /**
   * Creates the file if there is none, and empties it; with `writable`. Emptied only once it is
   * known to be a regular file of its own (ftruncate after the checks, never O_TRUNC in the open,
   * which would empty whatever the path names before it is looked at).
   */
  readonly replace?: boolean;
  /** The permissions of a file `replace` creates (before the umask); 0o666 if not given. */
  readonly mode?: number;
  /**
   * Makes a new file, with `writable` (O_CREAT | O_EXCL): anything already at the name, a link
   * (even a dangling one) included, is refused, never followed nor emptied. The descriptor is then
   * the file made, whatever is renamed into its name later: write through it, not by the name.
   */
  readonly exclusive?: boolean;
}

/**
 * Opens `path` for reading (or, `writable`, for reading and writing) without blocking in the open (a
 * FIFO would wait for a writer), and returns its descriptor and size only if it is a regular file;
 * else an IoError naming it and `what`. O_NONBLOCK changes nothing for a regular file. `side`: a
 * side file's open (SideFileOpen), a symbolic link, or a hard link written through, refused with
 * an IoError naming it, before a byte of it is changed.
 */
export function openRegularFile(path: string, what: string, writable = false, side: SideFileOpen = {}): { readonly fd: number; readonly sizeBytes: number } {
  let fd: number;
  try {
    fd = openSync(path, openFlags(writable, side), side.mode);
  } catch (error) {
    throw openFailure(error, path, what, side);
  }
  try {
    const stat = fstatSync(fd);
    requireOwnRegularFile(path, what, stat, writable, side);
    if (writable && side.replace && stat.size > 0) {
      try {
        ftruncateSync(fd, 0);
      } catch (error) {
        throw translateIoError(error, `empty ${what}`, path);
      }
      return { fd, sizeBytes: 0 };
    }
    return { fd, sizeBytes: stat.size };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * `openRegularFile(path, what, true, { noFollow: true, replace: true })` on libuv's pool, for a
 * thread that must not block: the side file created or emptied (only after its checks), as a
 * FileHandle for writing.
 */
export async function openSideFileForReplace(path: string, what: string): Promise<FileHandle> {
  const side: SideFileOpen = { noFollow: true, replace: true };
  let handle: FileHandle;
  try {
    handle = await openAsync(path, openFlags(true, side), side.mode);
  } catch (error) {
    throw openFailure(error, path, what, side);
  }
  try {
    // fstat of an open descriptor waits for no disk: on this thread, not one more turn of a pool
    // that a copy may keep busy (the open above already waited for it once).
    const stat = fstatSync(handle.fd);
    requireOwnRegularFile(path, what, stat, true, side);
    if (stat.size > 0) await handle.truncate(0);
    return handle;
  } catch (error) {
    await handle.close();
    throw translateIoError(error, `empty ${what}`, path);
  }
}

/** The open(2) flags of openRegularFile: never O_TRUNC, which would empty whatever the path names before it is looked at. */
function openFlags(writable: boolean, side: SideFileOpen): number {
  return (
    (writable ? constants.O_RDWR : constants.O_RDONLY) |
    constants.O_NONBLOCK |
    (side.noFollow ? constants.O_NOFOLLOW : 0) |
    (writable && (side.replace || side.exclusive) ? constants.O_CREAT : 0) |
    (writable && side.exclusive ? constants.O_EXCL : 0)
  );
}

/** The typed error of an open that failed: a symbolic link refused (side.noFollow) says so, and so does a name taken (side.exclusive). */
function openFailure(error: unknown, path: string, what: string, side: SideFileOpen): SnaptapeError {
  if (side.exclusive && (error as { code?: unknown }).code === 'EEXIST') {
    const link = lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true;
    return new IoError(
      `Cannot create ${what} ${path}: ${link ? 'a symbolic link' : 'a file'} is already at its name, and ${what} is made only as a new file of its own`,
      { path, exists: true, ...(link ? { symbolicLink: true } : {}) },
    );
  }
  if (side.noFollow && (error as { code?: unknown }).code === 'ELOOP' && lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) {
    return new IoError(`Cannot open ${what} ${path}: it is a symbolic link, and ${what} is opened only as a regular file`, {
      path,
      notRegularFile: true,
      symbolicLink: true,
    });
  }
  return translateIoError(error, `open ${what}`, path);
}

/** Refuses (IoError naming it) what is not a regular file, and a side file opened writable that has more than one link. */
function requireOwnRegularFile(path: string, what: string, stat: { isFile(): boolean; readonly nlink: number }, writable: boolean, side: SideFileOpen): void {
  if (!stat.isFile()) throw new IoError(`Cannot read ${what} ${path}: it is not a regular file`, { path, notRegularFile: true });
  if (writable && side.noFollow && stat.nlink > 1) {
    throw new IoError(
      `Cannot open ${what} ${path}: it has ${stat.nlink} links (a hard link shares its bytes with another name), and ${what} is written only as a file of its own`,
      { path, hardLink: true, links: stat.nlink },
    );
  }
}

/**
 * Makes the folder `path` (its parents too, as needed), or takes the one there, only as a folder of
 * its own: a symbolic link at its name (to a folder elsewhere, which whoever can write the folder
 * above may put there), or anything else that is no folder, is refused with an IoError naming it,
 * before a file is made in it. Side files are then made in it by name (openRegularFile, noFollow
 * for the file's own name), which would otherwise land in the folder the link names. Checked when
 * called: a caller asks again right before it makes files there (Node has no openat(2)).
 */
export function ownFolder(path: string, what: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    mkdirSync(path);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EEXIST') throw translateIoError(error, `make ${what}`, path);
  }
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (stat?.isDirectory() === true) return;
  const found = stat === undefined ? 'it is gone' : stat.isSymbolicLink() ? 'it is a symbolic link' : 'it is not a folder';
  throw new IoError(`Cannot use ${what} ${path}: ${found}, and ${what} is used only as a folder of its own`, {
    path,
    notFolder: true,
    ...(stat?.isSymbolicLink() === true ? { symbolicLink: true } : {}),
  });
}

/** Which file a descriptor holds (device and inode): what `renameOwnFile` compares a name with. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** The identity of the file open as `fd`. */
export function fileIdentity(fd: number, path: string, what: string): FileIdentity {
  try {
    const { dev, ino } = fstatSync(fd);
    return { dev, ino };
  } catch (error) {
    throw translateIoError(error, `look at ${what}`, path);
  }
}

/**
 * Refuses (IoError naming it) the file open as `fd` unless it is the one `identity` names: a file
 * snaptape made and holds, opened again by its name (on another thread, or to finish it), where
 * whoever can write the folder may have put a link or another file meanwhile. Nothing of it is
 * changed; the caller closes `fd`.
 */
export function requireSameFile(fd: number, identity: FileIdentity, path: string, what: string, since: string): void {
  const now = fileIdentity(fd, path, what);
  if (now.dev === identity.dev && now.ino === identity.ino) return;
  throw new IoError(
    `Cannot write ${what} ${path}: it is not the file ${since} (a link or another file was put at its name meanwhile), so it is left as it was`,
    {
      path,
      replaced: true,
    },
  );
}

/**
 * Renames `from` over `to` only while the name `from` still holds the file `identity` names (made
 * by snaptape, exclusively, and written through its descriptor, never reopened by the name). Whoever
 * can write the folder can rename another file or a link into `from`'s place meanwhile: it is
 * refused with an IoError naming both, `to` left as it was (and what is at `from` too, not ours).
 * The check and the rename are two system calls; rename(2) moves the link it finds, never follows
 * it, so a link put there in between ends at `to` (not written through), the one window left.
 */
export function renameOwnFile(from: string, to: string, identity: FileIdentity, what: string): void {
  const now = lstatSync(from, { throwIfNoEntry: false });
  if (now === undefined || now.dev !== identity.dev || now.ino !== identity.ino) {
    const found = now === undefined ? 'nothing is there' : now.isSymbolicLink() ? 'a symbolic link is there' : 'another file is there';
    throw new IoError(`Cannot rename ${what} ${from} to ${to}: it is no longer the file snaptape made and wrote (${found}), so ${to} is left as it was`, {
      path: from,
      to,
      replaced: true,
    });
  }
  try {
    renameSync(from, to);
  } catch (error) {
    throw translateIoError(error, `rename ${what} ${from} to ${to}`, from);
  }
}

/** Copies the whole regular file at `fromPath` into `toFd` (from byte 0), in chunks: a copy into a file held by its descriptor. */
export function copyFileIntoDescriptor(fromPath: string, toFd: number, toPath: string, what: string): void {
  const { fd, sizeBytes } = openRegularFile(fromPath, what);
  try {
    const chunk = Buffer.allocUnsafe(Math.min(COPY_CHUNK_BYTES, Math.max(sizeBytes, 1)));
    let at = 0;
    // Bounded: every pass copies at least one byte or stops at the end of the file.
    for (;;) {
      const n = readAtMost(fd, chunk, at, fromPath, what);
      if (n === 0) break;
      writeFully(toFd, chunk.subarray(0, n), at, toPath, what);
      at += n;
    }
    try {
      ftruncateSync(toFd, at);
    } catch (error) {
      throw translateIoError(error, `copy ${what} to ${toPath}`, toPath);
    }
  } finally {
    closeSync(fd);
  }
}

/** One read and write of `copyFileIntoDescriptor`. */
const COPY_CHUNK_BYTES = 4 * 1024 ** 2;

/**
 * The most a side record read whole (a JSON record, a marker, a map) may hold unless its reader
 * says otherwise: far more than any volume's record holds, far less than a sparse file of
 * gigabytes, which costs its maker nothing and its reader that much memory.
 */
export const SIDE_RECORD_MAX_BYTES = 64 * 1024 ** 2;

/**
 * The bytes of a side file read whole: a regular file only (openRegularFile), refused from its
 * size, unread, when it holds more than `maxBytes`; else read to the size it had when opened, so
 * that memory is bounded by `maxBytes` even if the file grows meanwhile.
 */
export function readRegularFile(path: string, what: string, maxBytes: number = SIDE_RECORD_MAX_BYTES): Buffer {
  const { fd, sizeBytes } = openRegularFile(path, what);
  try {
    if (sizeBytes > maxBytes) {
      throw new IoError(`Cannot read ${what} ${path}: it has ${sizeBytes} bytes, more than the ${maxBytes} it can hold`, {
        path,
        sizeBytes,
        maxBytes,
      });
    }
    const bytes = Buffer.alloc(sizeBytes);
    return bytes.subarray(0, readAtMost(fd, bytes, 0, path, what));
  } finally {
    closeSync(fd);
  }
}

/** `readRegularFile` as UTF-8 text. */
export function readRegularFileText(path: string, what: string, maxBytes: number = SIDE_RECORD_MAX_BYTES): string {
  return readRegularFile(path, what, maxBytes).toString('utf8');
}
