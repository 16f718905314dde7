/**
 * The numbers of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md) and snaptape's own limits
 * for serving it. Every limit has a reason, and the ones that relate to each other are checked
 * when this module loads.
 *
 * Invariant: protocol numbers here are exactly the spec's; nothing else in src/export spells them.
 */
import { assert } from '../base/assert.js';

/** "Newstyle negotiation": the server's first 8 bytes, ASCII "NBDMAGIC". */
export const NBD_MAGIC = Buffer.from('NBDMAGIC', 'latin1');
/** "IHAVEOPT": the second 8 bytes of the greeting and the magic of every option request. */
export const NBD_IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');
/** "Option reply magic" 0x0003e889045565a9. */
export const NBD_REPLY_MAGIC = Buffer.from('0003e889045565a9', 'hex');
/** "Request message" magic. */
export const NBD_REQUEST_MAGIC = 0x25609513;
/** "Simple reply message" magic. */
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
/** "Structured reply chunk message" magic. */
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags sent by the server ("Newstyle negotiation"). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
/** Client flags; a client that sets any other bit MUST be disconnected. */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;
export const NBD_KNOWN_CLIENT_FLAGS = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;

/** Transmission flags ("Transmission flags" section). */
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;

/** Option types ("Option types"). */
export const NbdOption = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const;

/** Option reply types; errors have bit 31 set ("Option reply types"). */
export const NbdReply = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: 0x8000_0001,
  ERR_POLICY: 0x8000_0002,
  ERR_INVALID: 0x8000_0003,
  ERR_TLS_REQD: 0x8000_0005,
  ERR_UNKNOWN: 0x8000_0006,
  ERR_SHUTDOWN: 0x8000_0007,
  ERR_TOO_BIG: 0x8000_0009,
} as const;
export const NBD_REP_FLAG_ERROR = 0x8000_0000;

/** Information types for NBD_REP_INFO. */
export const NbdInfo = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

/** Request types ("Request types"). */
export const NbdCommand = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;
export type NbdCommandType = (typeof NbdCommand)[keyof typeof NbdCommand];

const COMMAND_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(NbdCommand).map(([name, value]) => [value, name]));

/** "WRITE" for 1, and so on; unknown numbers print as "command N". */
export function nbdCommandName(type: number): string {
  return COMMAND_NAMES[type] ?? `command ${type}`;
}

/** Command flags ("Command flags"). */
export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
/** Valid on BLOCK_STATUS only: one extent per context is enough. */
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;

/** Structured reply flags and chunk types ("Structured reply flags", "Structured reply types"). */
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NbdReplyChunk = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
} as const;

/** Status flags of the `base:allocation` context ("Metadata contexts"). */
export const NBD_STATE_HOLE = 1 << 0;
export const NBD_STATE_ZERO = 1 << 1;
/** The spec's one context: "is this extent allocated, and does it read as zeroes". */
export const BASE_ALLOCATION_CONTEXT = 'base:allocation';

/** Error values ("Error values"): Linux errno numbers, as the spec fixes them. */
export const NbdErrno = {
  OK: 0,
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type NbdErrnoValue = (typeof NbdErrno)[keyof typeof NbdErrno];

/** Length of the zero padding after NBD_OPT_EXPORT_NAME's reply unless NO_ZEROES was agreed. */
export const EXPORT_NAME_ZERO_PAD_BYTES = 124;

// ---- snaptape limits -------------------------------------------------------------------------

/** Largest READ/WRITE payload: qemu's own NBD_MAX_BUFFER_SIZE, so qemu clients never exceed it. */
export const MAX_REQUEST_PAYLOAD_BYTES = 32 * 1024 * 1024;
/** Block size we advertise as preferred: one page, the common host I/O unit. */
export const PREFERRED_BLOCK_BYTES = 4096;
/** Minimum block size: 1, because every backend does byte-granular I/O. */
export const MINIMUM_BLOCK_BYTES = 1;
/** Spec: strings (export names) MUST be no longer than 4096 bytes. */
export const MAX_NAME_BYTES = 4096;
/**
 * Largest option payload we accept: a GO/INFO with a maximal name and a generous info list, or a
 * LIST/SET_META_CONTEXT with a maximal export name and two maximal queries (real clients send one
 * or two short ones).
 */
export const MAX_OPTION_DATA_BYTES = 3 * (4 + MAX_NAME_BYTES) + 4;
/** Contexts one SET_META_CONTEXT may select: each is one chunk in every BLOCK_STATUS reply. */
export const MAX_SELECTED_CONTEXTS = 16;
/**
 * Extents per context in one BLOCK_STATUS reply: bounds the reply (8 bytes each) and the work of one
 * request; the spec lets a server answer a prefix of the range, and the client asks on from there.
 */
export const MAX_BLOCK_STATUS_EXTENTS = 4096;
/**
 * Units (tracks, blocks) a context looks at to answer one BLOCK_STATUS: a run of like units merges
 * into one extent, so the extent limit alone would not bound the work (a 4 GiB range is 8 million
 * FBA blocks). 65,536 tracks is a 3390-3's worth and a few ms; the client asks on from there.
 */
export const BLOCK_STATUS_MAX_UNITS = 65_536;
/** Bytes a context may read to answer one BLOCK_STATUS (a zero scan): a few ms of work. */
export const BLOCK_STATUS_SCAN_BYTES = 4 * 1024 * 1024;
/** Longest error message in a structured error chunk (the spec caps strings at 4096 bytes). */
export const MAX_ERROR_MESSAGE_BYTES = 256;
/** Options a client may send before choosing an export; bounds a handshake that never ends. */
export const MAX_OPTIONS_PER_HANDSHAKE = 256;
/** A handshake that takes longer is dropped: real clients finish in milliseconds. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** A connection that sends no request (or reads no reply) for this long after the handshake is closed. */
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;
/** How long close() waits for a connection to flush its replies before destroying it (bounds shutdown). */
export const CLOSE_DRAIN_TIMEOUT_MS = 2_000;
/** Bytes the client reads ahead of its parser before it pauses the socket. */
export const READ_AHEAD_BYTES = 1024 * 1024;
/** The spec's request header size ("Request message"), which the server read-ahead counts in. */
export const NBD_REQUEST_HEADER_BYTES = 28;
/**
 * The server's read-ahead: bytes of requests (headers and WRITE payloads) a connection buffers
 * ahead of the one it executes, then the socket pauses (a larger WRITE payload is read whole). A
 * few of nbdcopy's 256 KiB WRITEs, so the next one is there when the last is done.
 */
export const SERVER_READ_AHEAD_BYTES = 2 * 1024 * 1024;
/**
 * Reply bytes a connection may have queued on its socket, not yet taken by the kernel, before it
 * reads no further request until the client reads its replies (back-pressure on READs).
 */
export const SERVER_REPLY_BYTES_IN_FLIGHT = 4 * 1024 * 1024;
/** READs of one connection in flight at once on the thread pool (nbd-backend.ts `readIntoAsync`). */
export const SERVER_READS_IN_FLIGHT = 8;
/**
 * WRITEs of one connection in flight at once, their bytes landing on the thread pool (nbd-backend.ts
 * `writeAsync`), and the payload bytes they hold (always at least one WRITE): the mirror link's
 * three 1 MiB batches, or a few of nbdcopy's 256 KiB WRITEs, land while the next are parsed.
 */
export const SERVER_WRITES_IN_FLIGHT = 8;
export const SERVER_WRITE_BYTES_IN_FLIGHT = 4 * 1024 * 1024;
/**
 * WRITEs that follow each other on a connection, already buffered whole, each starting where the one
 * before ends, land as one write of at most this many bytes (one hand-over to the thread pool and
 * one wake-up back instead of one each): nbdcopy's 256 KiB WRITEs four at a time.
 */
export const SERVER_WRITE_MERGE_BYTES = 1024 * 1024;
/**
 * Payload bytes of WRITEs in flight on all connections of a server together: past it, a
 * connection that has a WRITE in flight waits for it before it starts another (one that has none
 * may start one, so the total stays under this plus one payload per connection).
 */
export const SERVER_TOTAL_WRITE_BYTES_IN_FLIGHT = 64 * 1024 * 1024;
/** Bytes of buffers a connection keeps for reuse (buffer-pool.ts): its replies or its payloads in flight, and one more. */
export const SERVER_BUFFER_POOL_BYTES = Math.max(SERVER_REPLY_BYTES_IN_FLIGHT, SERVER_WRITE_BYTES_IN_FLIGHT) + 1024 * 1024;
/** Concurrent connections per server: bounds memory (one read-ahead buffer and frame each). */
export const MAX_CONNECTIONS = 128;
/** Exports per server: the export list is sent in one handshake, so it stays small. */
export const MAX_EXPORTS = 1024;
/** Requests a client keeps in flight on one connection before callers wait for a slot. */
export const CLIENT_MAX_IN_FLIGHT = 64;
/** Callers that may wait for a client slot; beyond this the caller is misusing the link. */
export const CLIENT_MAX_WAITERS = 4096;
/** Bytes written per step of a zero fill, so zeroing a large range never allocates it whole. */
export const ZERO_FILL_CHUNK_BYTES = 1024 * 1024;

assert(MAX_REQUEST_PAYLOAD_BYTES <= 0xffff_ffff, 'a payload length fits the u32 length field');
assert(PREFERRED_BLOCK_BYTES <= MAX_REQUEST_PAYLOAD_BYTES, 'preferred block fits the maximum payload');
assert(MAX_OPTION_DATA_BYTES < READ_AHEAD_BYTES, 'an option fits the read-ahead buffer');
assert(MAX_OPTION_DATA_BYTES < SERVER_READ_AHEAD_BYTES, 'an option fits the server read-ahead buffer');
/**
 * Bytes of a WRITE_ZEROES or TRIM the server does in one turn of the event loop before it lets
 * other clients in: about one CKD track (a 3390 track slot is 56,832 bytes), a millisecond or two.
 */
export const RANGE_STEP_BYTES = 64 * 1024;
/** Bytes of a READ the server reads in one turn (reads cost far less than writes): a few ms on CKD. */
export const READ_STEP_BYTES = 1024 * 1024;

assert(RANGE_STEP_BYTES <= ZERO_FILL_CHUNK_BYTES, 'a range step needs at most one zero-fill buffer');
assert(READ_STEP_BYTES <= MAX_REQUEST_PAYLOAD_BYTES, 'a read step is no larger than a payload');
assert(ZERO_FILL_CHUNK_BYTES <= MAX_REQUEST_PAYLOAD_BYTES, 'a zero-fill step is no larger than a payload');
assert(SERVER_WRITE_MERGE_BYTES <= SERVER_WRITE_BYTES_IN_FLIGHT, 'a merged write fits the bytes a connection has in flight');
