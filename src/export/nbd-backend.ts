/**
 * What the NBD server serves: one export, backed by something that reads and writes bytes.
 *
 * What a write decides runs on the thread that owns the volume, through its interceptor chain (a
 * copy-before-write may run inside `write()`), in the order the server calls it. Where the chain
 * allows it, only the bytes land later, off that thread (`writeAsync`); else the write is applied
 * whole before the next request on any connection starts. READs may run off that thread
 * (`readIntoAsync`), since they change nothing. The server may advertise NBD_FLAG_CAN_MULTI_CONN:
 * all connections see one backend, a write is answered only once it has landed, and a flush on any
 * connection covers every write that has been answered.
 *
 * Invariants the server relies on (and checks before calling):
 * - `offsetBytes + length <= sizeBytes` for every call;
 * - `write`, `writeZeroes` and `trim` are never called on a read-only backend;
 * - `trim` is only called when `canTrim` is true.
 * A backend reports an operating failure by throwing a SnaptapeError; `nbdErrnoFor` turns it
 * into the errno of the reply and the connection carries on.
 */
import type { ScatteredBytes } from '../base/scattered-bytes.js';
import { isSnaptapeError, type ErrorCode } from '../errors/snaptape-error.js';
import { NbdErrno, type NbdErrnoValue } from './nbd-constants.js';
import type { MetaContextSource } from './nbd-meta-context.js';
import type { MirrorLinkGrant, MirrorLinkMode } from './mirror-link-option.js';

export interface NbdExportBackend {
  /** Export name clients ask for; at most MAX_NAME_BYTES of UTF-8. */
  readonly name: string;
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  readonly canTrim: boolean;
  /** Returns exactly `length` bytes. */
  read(offsetBytes: number, length: number): Buffer;
  /**
   * Fills `into` with the bytes from `offsetBytes` on: the server reads a READ's data straight into
   * its reply buffer, which it reuses (absent: the server uses `read`).
   */
  readInto?(offsetBytes: number, into: Buffer): void;
  /**
   * `readInto` off the owning thread (the libuv pool), or in line where the backend finds that
   * cheaper (a volume whose reads find the page cache: base/io-placement.ts): the server keeps up to
   * SERVER_READS_IN_FLIGHT of a connection's READs in flight at once, and answers each as it
   * completes. It runs only between a connection's other requests (a WRITE, FLUSH or the like waits
   * for the connection's reads in flight), and the server waits for every read before it closes.
   */
  readIntoAsync?(offsetBytes: number, into: Buffer): Promise<void>;
  /** `data` is the server's (a reused buffer): the backend must not keep it after returning. */
  write(offsetBytes: number, data: Buffer): void;
  /**
   * `write` with the bytes landing off the owning thread where the backend allows it (else it is
   * `write`, settled at once). What decides the write (the interceptor chain; a refusal throws or
   * rejects) runs before it returns, so writes are decided in call order; the promise settles once
   * the bytes are in place, and the backend may keep `data` until then. The server keeps up to
   * SERVER_WRITES_IN_FLIGHT of a connection's WRITEs in flight, sends no READ or WRITE overlapping
   * one before it settles, runs any other request (FLUSH, WRITE_ZEROES) only after they all have,
   * and waits for every write before it closes. `data` may lie in several buffers (views of the
   * socket's chunks, in order): the backend lands them as they lie, or gathers them once.
   */
  writeAsync?(offsetBytes: number, data: ScatteredBytes): Promise<void>;
  /**
   * `writeZeroes` as `writeAsync` writes, for a zero fill of at most ZERO_FILL_CHUNK_BYTES (a
   * mirror link's zero tail of a track or block): the server keeps it in flight like a WRITE.
   */
  writeZeroesAsync?(offsetBytes: number, length: number): Promise<void>;
  writeZeroes(offsetBytes: number, length: number): void;
  trim?(offsetBytes: number, length: number): void;
  /** Makes every completed write durable. */
  flush(): void;
  /**
   * The metadata contexts a client may select for NBD_CMD_BLOCK_STATUS (nbd-meta-context.ts), each
   * name once; none when absent. Read at each negotiation, so a context added later is offered to
   * the clients that connect after.
   */
  metaContexts?(): readonly MetaContextSource[];
  /**
   * Set while the export is held (a mirror secondary split by its own server for a backup): the
   * handshake refuses the export with NBD_REP_ERR_POLICY and this text, and writes are refused.
   */
  readonly heldReason?: string | undefined;
  /**
   * A mirror's link asks to be this export's writer (mirror-link-option.ts): the export protects
   * itself, or takes writes and records them, or is released, and returns what the link serves.
   * Absent: the export cannot be a mirror's secondary.
   */
  mirrorLink?(mode: MirrorLinkMode): MirrorLinkGrant<NbdExportBackend> | Promise<MirrorLinkGrant<NbdExportBackend>>;
}

/** The NBD errno for each operating-error code; anything unlisted is EIO. */
const ERRNO_BY_CODE: Partial<Record<ErrorCode, NbdErrnoValue>> = {
  NO_SPACE: NbdErrno.ENOSPC,
  ADDRESS_RANGE: NbdErrno.EINVAL,
  USAGE: NbdErrno.EINVAL,
  LOCKED: NbdErrno.EPERM,
  SESSION: NbdErrno.EPERM,
  IO: NbdErrno.EIO,
};

/**
 * The errno for a failure thrown by a backend. A SnaptapeError maps by its code; anything else
 * (which is a bug in the backend) is EIO, and the caller reports it as an internal failure.
 */
export function nbdErrnoFor(error: unknown): NbdErrnoValue {
  if (isSnaptapeError(error)) return ERRNO_BY_CODE[error.code] ?? NbdErrno.EIO;
  return NbdErrno.EIO;
}

const ERRNO_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(NbdErrno).map(([name, value]) => [value, name]));

/** "EPERM" for 1, and so on; unknown numbers print as "errno N". */
export function nbdErrnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}
