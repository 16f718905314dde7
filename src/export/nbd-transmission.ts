/**
 * Server side of the transmission phase ("Transmission phase", "Request types" in proto.md):
 * decoding a request header, deciding how many payload bytes follow it, and executing it on the
 * backend. Replies are simple ones unless structured replies were agreed; then READ and
 * BLOCK_STATUS answer in chunks (nbd-structured-reply.ts), and the other commands still simply
 * (the spec allows it for commands that return no data).
 *
 * Invariants:
 * - the backend is only called with a range inside the export, and never to write a read-only one;
 * - a backend failure becomes an errno in the reply, never an exception out of `executeRequest`;
 * - a WRITE_ZEROES or TRIM runs in steps of at most RANGE_STEP_BYTES, a READ in steps of at most
 *   READ_STEP_BYTES (assembled into one reply), and the caller's gate is passed between two steps (it yields the event loop, and stops the rest once the client is gone);
 * - a BLOCK_STATUS needs structured replies and at least one selected context (else EINVAL), and
 *   each context answers at most MAX_BLOCK_STATUS_EXTENTS extents (one with REQ_ONE);
 * - a request whose payload cannot be read safely (bad magic, WRITE larger than
 *   MAX_REQUEST_PAYLOAD_BYTES) is reported as `fatal`, because the stream has lost its framing.
 */
import { assert } from '../base/assert.js';
import type { ScatteredBytes } from '../base/scattered-bytes.js';
import { decodeFields, encodeFields, num } from '../base/field-table.js';
import { isSnaptapeError } from '../errors/snaptape-error.js';
import { nbdErrnoFor, type NbdExportBackend } from './nbd-backend.js';
import type { MetaContextExtent } from './nbd-meta-context.js';
import type { TransmissionAgreement } from './nbd-negotiation.js';
import {
  MAX_BLOCK_STATUS_EXTENTS,
  MAX_REQUEST_PAYLOAD_BYTES,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NbdCommand,
  NbdErrno,
  RANGE_STEP_BYTES,
  READ_STEP_BYTES,
  ZERO_FILL_CHUNK_BYTES,
  type NbdErrnoValue,
} from './nbd-constants.js';
import { NBD_REQUEST, NBD_SIMPLE_REPLY, readU64 } from './nbd-layouts.js';

/** Flags this server understands on any command (unknown bits get EINVAL). */
const KNOWN_COMMAND_FLAGS = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE;
/** BLOCK_STATUS also takes REQ_ONE. */
const BLOCK_STATUS_FLAGS = KNOWN_COMMAND_FLAGS | NBD_CMD_FLAG_REQ_ONE;

/**
 * Bytes in front of a READ's data in a reply buffer from a `ReplyBufferSource`: room for the longest
 * header that precedes the data (a structured OFFSET_DATA chunk: 20 bytes, then the 8-byte offset),
 * so header and data go out as one write, and the data is read straight into its place.
 */
export const READ_HEADER_ROOM = 28;

/**
 * Hands out a buffer of at least `length` bytes for a READ's reply (the connection's pool); the
 * READ fills READ_HEADER_ROOM bytes on with its data when the backend can read into a buffer.
 */
export type ReplyBufferSource = (length: number) => Buffer;

/** Simple replies only, no contexts: what a connection has without a structured-reply handshake. */
export const SIMPLE_AGREEMENT: TransmissionAgreement = { structuredReplies: false, contexts: [] };

export interface NbdRequest {
  readonly magic: number;
  readonly commandFlags: number;
  readonly type: number;
  readonly handle: Buffer;
  /** As sent; may exceed Number.MAX_SAFE_INTEGER, so it is compared as a bigint. */
  readonly offsetBytes: bigint;
  readonly length: number;
}

export function decodeRequest(raw: Buffer): NbdRequest {
  const values = decodeFields(NBD_REQUEST, raw);
  const handle = values['handle'];
  const offset = values['offsetBytes'];
  if (!(handle instanceof Uint8Array) || !(offset instanceof Uint8Array)) throw new Error('request layout has byte fields');
  return {
    magic: num(values, 'magic'),
    commandFlags: num(values, 'commandFlags'),
    type: num(values, 'type'),
    handle: Buffer.from(handle),
    offsetBytes: readU64(offset),
    length: num(values, 'length'),
  };
}

export function encodeSimpleReply(error: number, handle: Buffer): Buffer {
  return encodeFields(NBD_SIMPLE_REPLY, { magic: NBD_SIMPLE_REPLY_MAGIC, error, handle });
}

/** How to proceed after a header: read `payloadBytes` more, or drop the connection. */
export type RequestFraming =
  { readonly kind: 'ok'; readonly payloadBytes: number } | { readonly kind: 'fatal'; readonly reason: string; readonly replyErrno?: NbdErrnoValue };

export function frameRequest(request: NbdRequest): RequestFraming {
  if (request.magic !== NBD_REQUEST_MAGIC) {
    return { kind: 'fatal', reason: `request magic 0x${request.magic.toString(16)} is not 0x${NBD_REQUEST_MAGIC.toString(16)}` };
  }
  if (request.type !== NbdCommand.WRITE) return { kind: 'ok', payloadBytes: 0 };
  if (request.length > MAX_REQUEST_PAYLOAD_BYTES) {
    return { kind: 'fatal', reason: `WRITE of ${request.length} bytes exceeds the ${MAX_REQUEST_PAYLOAD_BYTES}-byte maximum`, replyErrno: NbdErrno.EINVAL };
  }
  return { kind: 'ok', payloadBytes: request.length };
}

/** The result of one request: the reply errno, READ data on success, and any backend failure. */
export interface RequestResult {
  readonly errno: NbdErrnoValue;
  readonly data?: Buffer;
  /** The buffer `data` lies in, READ_HEADER_ROOM bytes on, when it came from the reply buffer source. */
  readonly replyBuffer?: Buffer;
  /** A successful BLOCK_STATUS: each selected context's id and extents, in context id order. */
  readonly blockStatus?: readonly { readonly contextId: number; readonly extents: readonly MetaContextExtent[] }[];
  /** Set when the server refused the request without running it on the backend: why, for the log. */
  readonly refusal?: string;
  /** Set when the backend threw; `internal` when what it threw was not a SnaptapeError. */
  readonly failure?: { readonly error: unknown; readonly internal: boolean };
  readonly disconnect: boolean;
  /** Set when the gate stopped a request part-way: nothing is to be replied. */
  readonly stopped?: boolean;
}

/**
 * Passed between two steps of a long request: yields the event loop, and resolves false when the
 * rest of the request is to be dropped (the client has gone, or the server is closing).
 */
export type StepGate = () => Promise<boolean>;

const STOPPED: RequestResult = { errno: NbdErrno.ESHUTDOWN, disconnect: false, stopped: true };

const OK: RequestResult = { errno: NbdErrno.OK, disconnect: false };

function fail(errno: NbdErrnoValue, refusal: string): RequestResult {
  return { errno, refusal, disconnect: false };
}

const READ_ONLY = 'the export is read-only to this connection';
const PAST_THE_END = 'the range ends past the end of the export';

/** Whether [offset, offset + length) lies inside the export (bigint, so huge offsets compare right). */
function inRange(backend: NbdExportBackend, request: NbdRequest): boolean {
  return request.offsetBytes + BigInt(request.length) <= BigInt(backend.sizeBytes);
}

/**
 * Whether the request is a READ the server may leave in flight while it reads and runs the next
 * requests (the backend reads off the owning thread, and the READ is well formed).
 */
export function runsInFlight(backend: NbdExportBackend, request: NbdRequest): boolean {
  return (
    request.type === NbdCommand.READ &&
    backend.readIntoAsync !== undefined &&
    backend.readInto !== undefined &&
    request.commandFlags === 0 &&
    request.length <= MAX_REQUEST_PAYLOAD_BYTES &&
    inRange(backend, request)
  );
}

/**
 * Whether the request is a WRITE, or a WRITE_ZEROES of at most ZERO_FILL_CHUNK_BYTES, the server
 * may leave in flight while it reads and runs the next requests (the backend writes it with
 * `writeAsync` or `writeZeroesAsync`, is writable, and the request is well formed).
 */
export function writesInFlight(backend: NbdExportBackend, request: NbdRequest): boolean {
  const deferred =
    request.type === NbdCommand.WRITE
      ? backend.writeAsync !== undefined && request.length <= MAX_REQUEST_PAYLOAD_BYTES
      : request.type === NbdCommand.WRITE_ZEROES && backend.writeZeroesAsync !== undefined && request.length <= ZERO_FILL_CHUNK_BYTES;
  return deferred && !backend.readOnly && (request.commandFlags & ~KNOWN_COMMAND_FLAGS) === 0 && inRange(backend, request);
}

/**
 * A request for which `writesInFlight` holds, through `writeAsync` or `writeZeroesAsync`: the
 * backend decides it before this returns its promise, which settles once the bytes have landed
 * (then FUA flushes). A failure, decided at once or of the landing write, becomes the reply's errno.
 */
export async function executeWriteInFlight(backend: NbdExportBackend, request: NbdRequest, payload: ScatteredBytes): Promise<RequestResult> {
  const offsetBytes = Number(request.offsetBytes);
  const write =
    request.type === NbdCommand.WRITE
      ? backend.writeAsync?.bind(backend, offsetBytes, payload)
      : backend.writeZeroesAsync?.bind(backend, offsetBytes, request.length);
  assert(write !== undefined, 'the backend writes off the owning thread');
  try {
    await write();
    if ((request.commandFlags & NBD_CMD_FLAG_FUA) !== 0) backend.flush();
    return OK;
  } catch (error) {
    return failed(error);
  }
}

/**
 * Runs one request on the backend. `payload` is the WRITE data (empty otherwise); `replyBuffers`,
 * when given, lends the buffer a READ is read into (else the backend allocates its answer).
 */
export async function executeRequest(
  backend: NbdExportBackend,
  request: NbdRequest,
  payload: Buffer,
  gate: StepGate,
  agreed: TransmissionAgreement = SIMPLE_AGREEMENT,
  replyBuffers?: ReplyBufferSource,
): Promise<RequestResult> {
  const allowed = request.type === NbdCommand.BLOCK_STATUS ? BLOCK_STATUS_FLAGS : KNOWN_COMMAND_FLAGS;
  if ((request.commandFlags & ~allowed) !== 0) return fail(NbdErrno.EINVAL, `command flags 0x${request.commandFlags.toString(16)} are not allowed here`);
  const fua = (request.commandFlags & NBD_CMD_FLAG_FUA) !== 0;
  const offsetBytes = Number(request.offsetBytes);
  const { length } = request;
  switch (request.type) {
    case NbdCommand.READ:
      if (length > MAX_REQUEST_PAYLOAD_BYTES) return fail(NbdErrno.EINVAL, `a READ of ${length} bytes exceeds the ${MAX_REQUEST_PAYLOAD_BYTES}-byte maximum`);
      if (!inRange(backend, request)) return fail(NbdErrno.EINVAL, PAST_THE_END);
      if (replyBuffers !== undefined && backend.readInto !== undefined) return readIntoReply(backend, offsetBytes, length, gate, replyBuffers);
      if (length <= READ_STEP_BYTES) return guarded(() => ({ errno: NbdErrno.OK, data: backend.read(offsetBytes, length), disconnect: false }));
      return readInSteps(backend, offsetBytes, length, gate);
    case NbdCommand.WRITE:
      if (backend.readOnly) return fail(NbdErrno.EPERM, READ_ONLY);
      if (!inRange(backend, request)) return fail(NbdErrno.ENOSPC, PAST_THE_END);
      return guarded(() => withFua(backend, fua, () => backend.write(offsetBytes, payload)));
    case NbdCommand.WRITE_ZEROES:
      if (backend.readOnly) return fail(NbdErrno.EPERM, READ_ONLY);
      if (!inRange(backend, request)) return fail(NbdErrno.ENOSPC, PAST_THE_END);
      return guardedSteps(backend, fua, offsetBytes, length, gate, (at, bytes) => backend.writeZeroes(at, bytes));
    case NbdCommand.TRIM: {
      if (backend.readOnly) return fail(NbdErrno.EPERM, READ_ONLY);
      const trim = backend.trim;
      if (!backend.canTrim || trim === undefined) return fail(NbdErrno.EINVAL, 'the export does not take TRIM');
      if (!inRange(backend, request)) return fail(NbdErrno.EINVAL, PAST_THE_END);
      return guardedSteps(backend, fua, offsetBytes, length, gate, (at, bytes) => trim.call(backend, at, bytes));
    }
    case NbdCommand.FLUSH:
      return guarded(() => withFua(backend, false, () => backend.flush()));
    case NbdCommand.DISC:
      return { errno: NbdErrno.OK, disconnect: true };
    case NbdCommand.BLOCK_STATUS:
      if (!agreed.structuredReplies || agreed.contexts.length === 0)
        return fail(NbdErrno.EINVAL, 'BLOCK_STATUS needs structured replies and a metadata context');
      if (length === 0 || !inRange(backend, request)) return fail(NbdErrno.EINVAL, length === 0 ? 'a BLOCK_STATUS of 0 bytes' : PAST_THE_END);
      return blockStatus(agreed, offsetBytes, length, (request.commandFlags & NBD_CMD_FLAG_REQ_ONE) !== 0);
    default:
      return fail(NbdErrno.EINVAL, `command ${request.type} is not known`);
  }
}

function withFua(backend: NbdExportBackend, fua: boolean, run: () => void): RequestResult {
  run();
  if (fua) backend.flush();
  return OK;
}

function guarded(run: () => RequestResult): RequestResult {
  try {
    return run();
  } catch (error) {
    return failed(error);
  }
}

function failed(error: unknown): RequestResult {
  return { errno: nbdErrnoFor(error), failure: { error, internal: !isSnaptapeError(error) }, disconnect: false };
}

/** A large READ in steps of READ_STEP_BYTES with the gate between them, into one reply buffer. */
async function readInSteps(backend: NbdExportBackend, offsetBytes: number, length: number, gate: StepGate): Promise<RequestResult> {
  try {
    const data = Buffer.allocUnsafe(length);
    // Bounded: each turn advances by one step (the last may be shorter).
    for (let done = 0; done < length; done += READ_STEP_BYTES) {
      if (done > 0 && !(await gate())) return STOPPED;
      const part = backend.read(offsetBytes + done, Math.min(READ_STEP_BYTES, length - done));
      part.copy(data, done);
    }
    return { errno: NbdErrno.OK, data, disconnect: false };
  } catch (error) {
    return failed(error);
  }
}

/**
 * A READ straight into a lent reply buffer: no allocation and no copy of the data on the server.
 * With `readIntoAsync` in one read off the owning thread (which never waits for it); else in steps
 * of READ_STEP_BYTES with the gate between them (one step for most requests).
 */
async function readIntoReply(
  backend: NbdExportBackend,
  offsetBytes: number,
  length: number,
  gate: StepGate,
  buffers: ReplyBufferSource,
): Promise<RequestResult> {
  const readInto = backend.readInto;
  assert(readInto !== undefined, 'the backend reads into a buffer');
  try {
    const replyBuffer = buffers(READ_HEADER_ROOM + length);
    const data = replyBuffer.subarray(READ_HEADER_ROOM, READ_HEADER_ROOM + length);
    if (backend.readIntoAsync !== undefined) {
      await backend.readIntoAsync(offsetBytes, data);
      return { errno: NbdErrno.OK, data, replyBuffer, disconnect: false };
    }
    // Bounded: each turn advances by one step (the last may be shorter).
    for (let done = 0; done < length; done += READ_STEP_BYTES) {
      if (done > 0 && !(await gate())) return STOPPED;
      readInto.call(backend, offsetBytes + done, data.subarray(done, Math.min(length, done + READ_STEP_BYTES)));
    }
    return { errno: NbdErrno.OK, data, replyBuffer, disconnect: false };
  } catch (error) {
    return failed(error);
  }
}

/** A range operation in steps of RANGE_STEP_BYTES with the gate between them, then FUA. */
async function guardedSteps(
  backend: NbdExportBackend,
  fua: boolean,
  offsetBytes: number,
  length: number,
  gate: StepGate,
  step: (at: number, bytes: number) => void,
): Promise<RequestResult> {
  try {
    // Bounded: each turn advances by one step (the last may be shorter).
    for (let done = 0; done < length; done += RANGE_STEP_BYTES) {
      if (done > 0 && !(await gate())) return STOPPED;
      step(offsetBytes + done, Math.min(RANGE_STEP_BYTES, length - done));
    }
    if (fua) backend.flush();
    return OK;
  } catch (error) {
    return failed(error);
  }
}

/** Every selected context's extents of the range; a context that throws fails the request. */
function blockStatus(agreed: TransmissionAgreement, offsetBytes: number, length: number, reqOne: boolean): RequestResult {
  const maxExtents = reqOne ? 1 : MAX_BLOCK_STATUS_EXTENTS;
  try {
    const blockStatus = agreed.contexts.map((source, i) => {
      const extents = source.extents(offsetBytes, length, maxExtents);
      assert(extents.length >= 1 && extents.length <= maxExtents, `context ${source.name} answers 1 to ${maxExtents} extents`);
      const total = extents.reduce((sum, e) => sum + e.length, 0);
      assert(total <= length && extents.every((e) => e.length > 0), `context ${source.name} answers non-empty extents inside the range`);
      return { contextId: i + 1, extents };
    });
    return { errno: NbdErrno.OK, blockStatus, disconnect: false };
  } catch (error) {
    return failed(error);
  }
}
