/**
 * One client connection of the NBD server: greeting, negotiation, then a request loop, each step
 * reading exact frames from a bounded FrameReader.
 *
 * Invariants:
 * - requests on a connection are executed one at a time, in order, and replies go out in the same
 *   order;
 * - fairness: the loop yields the event loop before each request, and between the steps of a large
 *   READ, WRITE_ZEROES or TRIM, so no connection holds the server longer than one request (or one step)
 *   while other connections, the control API or a signal wait;
 * - once the peer is gone (reset, error, closed) or the server shuts the connection down, no
 *   buffered request is executed any more: they are dropped (a half-close is not gone: the client
 *   still reads the replies to what it sent);
 * - pipelining: the client's next requests are read from the socket while one executes, and
 *   replies are queued on the socket without waiting for the client to read them;
 * - READs in flight: where the backend reads off the owning thread (`readIntoAsync`), up to
 *   SERVER_READS_IN_FLIGHT READs of a connection (and at most SERVER_REPLY_BYTES_IN_FLIGHT of
 *   them, but always one) run at once, each answered as it completes (replies go by handle, so
 *   out of order);
 * - WRITEs in flight: where the backend writes off the owning thread (`writeAsync`), a WRITE (and a
 *   WRITE_ZEROES of at most one zero-fill chunk, `writeZeroesAsync`: a mirror link's zero tail) is
 *   decided (the interceptor chain runs) on the owning thread in request order, and its bytes land
 *   on the thread pool while the next requests are parsed; up to SERVER_WRITES_IN_FLIGHT of them
 *   (at most SERVER_WRITE_BYTES_IN_FLIGHT of payload, and within the server's WriteBudget, but
 *   always one) are in flight, each answered once it has landed (then FUA flushes);
 * - merged WRITEs: WRITEs without flags that follow a WRITE on the socket, already buffered whole,
 *   each starting where the one before ends and overlapping nothing in flight, land with it as one
 *   write of at most SERVER_WRITE_MERGE_BYTES (one hand-over to the thread pool, one wake-up back);
 *   each is still answered (the replies in one socket write), and where the merged write fails each
 *   is written again on its own and gets its own errno;
 * - per-range order: a READ waits for the WRITEs in flight it overlaps, and a WRITE for the READs
 *   and WRITEs in flight it overlaps, so on one connection neither overtakes the other on the same
 *   bytes (NBD lets a server reorder only requests that do not overlap);
 * - any other request (FLUSH, a larger WRITE_ZEROES, TRIM, DISC, a READ or WRITE that does not
 *   run in flight) but a BLOCK_STATUS first waits for every READ and WRITE of the connection in flight, so
 *   a FLUSH is answered only once every WRITE before it has landed, and then syncs; those requests
 *   run on the owning thread, one at a time, in order;
 * - the connection does not finish (nor the server close) before its READs and WRITEs in flight
 *   have settled, so the volume they use stays open;
 * - back-pressure: at most SERVER_READ_AHEAD_BYTES of requests (headers and WRITE payloads) are
 *   buffered ahead of the request being executed, then the socket pauses; and the loop reads no
 *   further request while more than SERVER_REPLY_BYTES_IN_FLIGHT of replies wait on the socket
 *   (the client must read its replies), so per-connection memory stays bounded;
 * - buffers: the socket reads into slabs of the connection's pool, reused (read-slabs.ts; a TLS
 *   connection reads as Node's sockets do, into fresh memory); READ data is read straight into a
 *   reply buffer with room for the header in front, and sent with it in one write; a WRITE payload
 *   already buffered (and merged WRITEs' payloads) is written where it lies, as views of the
 *   socket's chunks (one pwritev, no copy), whose memory takes no further read until the write
 *   has landed; one that arrives after its header is gathered into a buffer; the buffers come
 *   from the connection's pool (buffer-pool.ts) and go back to it after use (a payload's once its
 *   write has landed);
 * - after the handshake, a client that sends no request, or reads no reply, for `idleTimeoutMs` is
 *   disconnected;
 * - a malformed frame ends this connection only: it is reported as a protocol-error event and the
 *   socket is closed; nothing escapes to the server;
 * - a handshake that has not reached transmission within the timeout is dropped;
 * - with TLS keys, nothing but STARTTLS and ABORT is answered before the upgrade (forced TLS),
 *   and after the upgrade every byte goes through the TLS socket;
 * - state changes go through the table in nbd-connection-state.ts.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { NbdProtocolError } from '../errors/snaptape-error.js';
import type { NbdExportBackend } from './nbd-backend.js';
import type { MirrorLinkGrant } from './mirror-link-option.js';
import { canTransition, transition, type NbdConnectionState } from './nbd-connection-state.js';
import { assert } from '../base/assert.js';
import { sliceScattered, type ScatteredBytes } from '../base/scattered-bytes.js';
import {
  CLOSE_DRAIN_TIMEOUT_MS,
  MAX_OPTION_DATA_BYTES,
  MAX_OPTIONS_PER_HANDSHAKE,
  MAX_REQUEST_PAYLOAD_BYTES,
  NBD_REQUEST_HEADER_BYTES,
  NBD_REQUEST_MAGIC,
  NbdCommand,
  nbdCommandName,
  NbdErrno,
  SERVER_BUFFER_POOL_BYTES,
  SERVER_READ_AHEAD_BYTES,
  SERVER_READS_IN_FLIGHT,
  SERVER_REPLY_BYTES_IN_FLIGHT,
  SERVER_WRITE_BYTES_IN_FLIGHT,
  SERVER_WRITE_MERGE_BYTES,
  SERVER_WRITES_IN_FLIGHT,
} from './nbd-constants.js';
import { NBD_CLIENT_FLAGS, NBD_OPTION_REQUEST, NBD_REQUEST } from './nbd-layouts.js';
import {
  decodeClientFlags,
  decodeOptionRequest,
  encodeGreeting,
  handleOption,
  newNegotiationState,
  type ExportDirectory,
  type NegotiationTls,
  type TransmissionAgreement,
} from './nbd-negotiation.js';
import { encodeBlockStatusChunk, encodeErrorChunk, encodeOffsetDataHeader } from './nbd-structured-reply.js';
import { nbdErrnoName } from './nbd-backend.js';
import type { NbdServerEvent } from './nbd-server-events.js';
import { serverTlsOptions, type PskKeys } from './nbd-tls.js';
import {
  decodeRequest,
  encodeSimpleReply,
  executeRequest,
  executeWriteInFlight,
  frameRequest,
  READ_HEADER_ROOM,
  runsInFlight,
  writesInFlight,
  type NbdRequest,
  type RequestResult,
} from './nbd-transmission.js';
import { FrameReader, FrameReaderClosed } from './frame-reader.js';
import { BufferPool } from './buffer-pool.js';
import type { WriteBudget } from './write-budget.js';

assert(NBD_REQUEST.size === NBD_REQUEST_HEADER_BYTES, 'the read-ahead counts whole request headers');

/** Lets every other ready callback (I/O, timers, signals) run before this connection goes on. */
function yieldTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

export interface NbdServerConnectionOptions {
  readonly connectionId: number;
  readonly directory: ExportDirectory;
  readonly handshakeTimeoutMs: number;
  /** When given, the client must upgrade to TLS with one of these keys before anything else. */
  readonly tlsKeys?: PskKeys;
  /** After the handshake: no request, or no reply read, for this long closes the connection. */
  readonly idleTimeoutMs: number;
  readonly emit: (event: NbdServerEvent) => void;
  /** The server's count of WRITE payload bytes in flight on all its connections. */
  readonly writeBudget: WriteBudget;
  /**
   * The server accepted the socket paused (`pauseOnConnect`), for the connection to read it into
   * reused memory (FrameReader.adopting); false: the socket reads as Node's sockets do.
   */
  readonly pausedOnConnect: boolean;
}

/** The bytes a request in flight covers, [start, end). */
interface ByteRange {
  readonly start: number;
  readonly end: number;
}

function rangeOf(request: NbdRequest): ByteRange {
  const start = Number(request.offsetBytes);
  return { start, end: start + request.length };
}

function overlaps(a: ByteRange, b: ByteRange): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Longest client-given export name an event carries (the protocol allows 4096 bytes). */
const MAX_LOGGED_NAME_CHARS = 256;

export class NbdServerConnection {
  // Set once.
  readonly connectionId: number;
  private readonly options: NbdServerConnectionOptions;
  // Set in the constructor, and replaced once by the TLS socket and its reader at STARTTLS.
  private socket: Socket;
  private reader: FrameReader;
  private closed: Promise<void>;
  // Main thread only.
  private state: NbdConnectionState = 'greeting';
  private closeReason = 'connection closed';
  private wakeDrainWait: (() => void) | undefined;
  /** The peer is gone or the server shut the connection down: buffered requests are dropped. */
  private stopped = false;
  /** Since when the connection has waited for its client (last byte heard); undefined while it works. */
  private waitingSince: number | undefined;
  /** READ reply buffers and WRITE payload buffers, reused. */
  private readonly buffers = new BufferPool(SERVER_BUFFER_POOL_BYTES);
  private readonly lendReplyBuffer = (length: number): Buffer => this.buffers.take(length);
  /** READs running off the owning thread (each with its range), and their bytes. */
  private readonly readsInFlight = new Map<Promise<void>, ByteRange>();
  private bytesInFlight = 0;
  /** WRITEs whose bytes are landing off the owning thread (each with its range), and their payload bytes. */
  private readonly writesInFlight = new Map<Promise<void>, ByteRange>();
  private writeBytesInFlight = 0;

  constructor(accepted: Socket, options: NbdServerConnectionOptions) {
    this.options = options;
    this.connectionId = options.connectionId;
    const readerOptions = { readAheadBytes: SERVER_READ_AHEAD_BYTES, maxFrameBytes: MAX_REQUEST_PAYLOAD_BYTES, heard: this.heard };
    // Half-open, as the server accepts it: see nbd-server.ts.
    const { reader, socket } = options.pausedOnConnect
      ? FrameReader.adopting(accepted, { ...readerOptions, pool: this.buffers, allowHalfOpen: true })
      : { reader: new FrameReader(accepted, readerOptions), socket: accepted };
    this.socket = socket;
    this.reader = reader;
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.watch(socket);
    socket.setNoDelay(true);
  }

  /** Notes that the client was heard (any bytes from it), for `idleSince`. */
  private readonly heard = (): void => {
    if (this.waitingSince !== undefined) this.waitingSince = Date.now();
  };

  /** True where the socket reads into reused memory (FrameReader.adopting). */
  get readsIntoSlabs(): boolean {
    return this.reader.readsIntoSlabs;
  }

  /** Marks the peer gone when the socket closes or fails. */
  private watch(socket: Socket): void {
    socket.once('close', () => {
      this.stopped = true;
    });
    // Errors surface through the reader; here they only mark the peer gone (a reset is an error).
    socket.on('error', () => {
      this.stopped = true;
    });
  }

  /** Serves the connection until it closes. Never rejects. */
  async run(): Promise<void> {
    const timer = setTimeout(() => this.abort('handshake timed out'), this.options.handshakeTimeoutMs);
    try {
      this.socket.write(encodeGreeting());
      const chosen = await this.negotiate();
      clearTimeout(timer);
      if (chosen !== undefined) await this.transmit(chosen.backend, chosen.agreed);
    } catch (error) {
      this.noteFailure(error);
    } finally {
      clearTimeout(timer);
      await this.finish();
    }
  }

  /**
   * Since when the connection has waited for its client (for bytes of the handshake or of a
   * request, or to read a reply), counted from the last byte heard; undefined while it works. The
   * server evicts the longest waiting one when it is full.
   */
  get idleSince(): number | undefined {
    return this.stopped ? undefined : this.waitingSince;
  }

  /** True until the handshake has chosen an export (and again never after). */
  get inHandshake(): boolean {
    return this.state === 'greeting' || this.state === 'negotiating';
  }

  /** Drops the connection at once (no further request, no drain). */
  evict(reason: string): void {
    this.abort(reason);
  }

  /** Stops reading requests, flushes replies already queued, and closes. Used by server.close(). */
  async shutdown(reason: string): Promise<void> {
    this.closeReason = reason;
    this.stopped = true;
    this.reader.close(reason);
    this.wakeDrainWait?.();
    await this.finish();
  }

  private async negotiate(): Promise<{ backend: NbdExportBackend; agreed: TransmissionAgreement } | undefined> {
    const clientFlags = decodeClientFlags(await this.fromClient(NBD_CLIENT_FLAGS.size));
    this.setState('negotiating');
    let tls: NegotiationTls = this.options.tlsKeys === undefined ? 'off' : 'required';
    const state = newNegotiationState();
    let linkGrant: MirrorLinkGrant<NbdExportBackend> | undefined;
    for (let count = 0; count < MAX_OPTIONS_PER_HANDSHAKE; count++) {
      const ctx = {
        directory: this.options.directory,
        clientFlags,
        tls,
        state,
        ...(linkGrant !== undefined ? { linkBackend: linkGrant.backend } : {}),
        send: (bytes: Buffer) => this.socket.write(bytes),
        refused: (exportName: string, reason: string) =>
          this.options.emit({ kind: 'export-refused', connectionId: this.connectionId, exportName: exportName.slice(0, MAX_LOGGED_NAME_CHARS), reason }),
      };
      const request = decodeOptionRequest(await this.fromClient(NBD_OPTION_REQUEST.size));
      if (request.dataLength > MAX_OPTION_DATA_BYTES) {
        throw new NbdProtocolError(`Cannot negotiate: option ${request.option} carries ${request.dataLength} bytes, more than ${MAX_OPTION_DATA_BYTES}`, {
          option: request.option,
        });
      }
      const data = await this.fromClient(request.dataLength);
      const outcome = await handleOption(ctx, request, data);
      if (outcome.kind === 'starttls') {
        await this.upgradeToTls();
        tls = 'active';
        continue;
      }
      if (outcome.kind === 'close') {
        this.closeReason = outcome.reason;
        return undefined;
      }
      if (outcome.kind === 'mirror-link') {
        linkGrant = outcome.grant;
        continue;
      }
      if (outcome.kind === 'transmit') {
        // The link has had its reply (it sent GO after it): what it was told may be forgotten.
        if (linkGrant !== undefined && outcome.backend === linkGrant.backend) linkGrant.commit();
        this.setState('transmission');
        this.options.emit({ kind: 'export-selected', connectionId: this.connectionId, exportName: outcome.backend.name });
        return { backend: outcome.backend, agreed: outcome.agreed };
      }
    }
    throw new NbdProtocolError(`Cannot negotiate: client sent more than ${MAX_OPTIONS_PER_HANDSHAKE} options`, {});
  }

  /**
   * Hands the socket to TLS after STARTTLS was ACKed, and resolves when the handshake is done
   * (a wrong key or a non-TLS peer fails it, and the connection closes through the reader).
   */
  private async upgradeToTls(): Promise<void> {
    const keys = this.options.tlsKeys;
    if (keys === undefined) throw new NbdProtocolError('Cannot start TLS: the server has no TLS keys', {});
    const early = this.reader.detach();
    // Spec: the client waits for the ACK before it starts TLS; bytes sent earlier are a protocol error.
    if (early.length > 0) throw new NbdProtocolError(`Cannot start TLS: the client sent ${early.length} bytes before the STARTTLS reply`, {});
    const tlsSocket = new TLSSocket(this.socket, serverTlsOptions(keys));
    this.socket = tlsSocket;
    this.reader = new FrameReader(tlsSocket, { readAheadBytes: SERVER_READ_AHEAD_BYTES, maxFrameBytes: MAX_REQUEST_PAYLOAD_BYTES, heard: this.heard });
    this.closed = new Promise<void>((resolve) => tlsSocket.once('close', () => resolve()));
    this.watch(tlsSocket);
    await new Promise<void>((resolve, reject) => {
      tlsSocket.once('secure', () => resolve());
      tlsSocket.once('error', (error: Error) => reject(new FrameReaderClosed(`TLS handshake failed: ${error.message}`)));
      tlsSocket.once('close', () => reject(new FrameReaderClosed('connection closed during the TLS handshake')));
    });
  }

  /** The request loop; ends on DISC, on a fatal frame, when the reader closes, or once stopped. */
  private async transmit(backend: NbdExportBackend, agreed: TransmissionAgreement): Promise<void> {
    const gate = async (): Promise<boolean> => {
      await yieldTurn();
      return !this.stopped;
    };
    // Bounded by the connection's life: every turn consumes at least one 28-byte header.
    for (;;) {
      if (!(await gate())) return;
      // Before each request, not only after one run here: the replies of READs and WRITEs in flight
      // are queued as they complete, and a client that reads none must not make them pile up.
      if (this.socket.writableLength > SERVER_REPLY_BYTES_IN_FLIGHT)
        await this.waitingForClient(() => this.withIdleTimer(this.options.idleTimeoutMs, 'read no reply', () => this.waitForDrain()));
      if (this.stopped) return;
      const request = decodeRequest(await this.fromClient(NBD_REQUEST.size, this.options.idleTimeoutMs));
      const framing = frameRequest(request);
      if (framing.kind === 'fatal') {
        if (framing.replyErrno !== undefined) this.socket.write(encodeSimpleReply(framing.replyErrno, request.handle));
        throw new NbdProtocolError(`Cannot serve export '${backend.name}': ${framing.reason}`, { exportName: backend.name });
      }
      if (runsInFlight(backend, request)) {
        await this.roomForRead(request.length);
        await this.afterOverlapping(rangeOf(request), false);
        if (this.stopped) return;
        this.startRead(backend, request, gate, agreed);
        continue;
      }
      if (writesInFlight(backend, request)) {
        await this.roomForWrite(framing.payloadBytes);
        await this.afterOverlapping(rangeOf(request), true);
        if (this.stopped) return;
        await this.startWrite(backend, request, framing.payloadBytes, agreed);
        continue;
      }
      // Anything else runs after the READs and WRITEs sent before it (a BLOCK_STATUS changes nothing: it need not).
      if (request.type !== NbdCommand.BLOCK_STATUS) await this.settleInFlight();
      const payloadBuffer = framing.payloadBytes > 0 ? this.buffers.take(framing.payloadBytes) : undefined;
      const payload = await this.fromClient(framing.payloadBytes, this.options.idleTimeoutMs, payloadBuffer);
      if (this.stopped) return;
      const result = await executeRequest(backend, request, payload, gate, agreed, this.lendReplyBuffer);
      // The backend does not keep a WRITE's data past its call.
      if (payloadBuffer !== undefined) this.buffers.give(payloadBuffer);
      if (result.stopped === true) return;
      if (result.disconnect) {
        this.closeReason = 'client sent NBD_CMD_DISC';
        return;
      }
      if (!this.answer(backend, request, result, agreed)) return;
    }
  }

  /**
   * Reports a backend failure and sends the reply; false when the connection is to close (the
   * backend failed with an internal error).
   */
  private answer(backend: NbdExportBackend, request: NbdRequest, result: RequestResult, agreed: TransmissionAgreement): boolean {
    this.report(backend, request, result);
    this.reply(request, result, agreed);
    if (result.failure?.internal === true) {
      this.closeReason = 'backend failed with an internal error';
      return false;
    }
    return true;
  }

  /** Reports a backend failure, if the request had one, as a backend-error event; a refusal as a request-refused one. */
  private report(backend: NbdExportBackend, request: NbdRequest, result: RequestResult): void {
    if (result.refusal !== undefined) {
      this.options.emit({
        kind: 'request-refused',
        connectionId: this.connectionId,
        exportName: backend.name,
        command: request.type,
        errno: result.errno,
        reason: result.refusal,
      });
    }
    if (result.failure !== undefined) {
      this.options.emit({
        kind: 'backend-error',
        connectionId: this.connectionId,
        exportName: backend.name,
        command: request.type,
        errno: result.errno,
        error: result.failure.error,
        internal: result.failure.internal,
      });
    }
  }

  /** Waits until one more READ of `length` bytes may go in flight (at least one always may). */
  private async roomForRead(length: number): Promise<void> {
    // Bounded: each turn waits for one READ in flight to settle, and none starts meanwhile.
    while (this.readsInFlight.size > 0 && (this.readsInFlight.size >= SERVER_READS_IN_FLIGHT || this.bytesInFlight + length > SERVER_REPLY_BYTES_IN_FLIGHT)) {
      await Promise.race(this.readsInFlight.keys());
    }
  }

  /** Waits until one more WRITE of `length` bytes may go in flight (one always may, where the connection has none). */
  private async roomForWrite(length: number): Promise<void> {
    const budget = this.options.writeBudget;
    // Bounded: each turn waits for one of this connection's WRITEs in flight to land, and none starts meanwhile.
    while (
      this.writesInFlight.size > 0 &&
      (this.writesInFlight.size >= SERVER_WRITES_IN_FLIGHT || this.writeBytesInFlight + length > SERVER_WRITE_BYTES_IN_FLIGHT || !budget.fits(length))
    ) {
      await Promise.race(this.writesInFlight.keys());
    }
  }

  /** Waits for the WRITEs in flight that overlap `range` (and the READs, with `reads`). */
  private async afterOverlapping(range: ByteRange, reads: boolean): Promise<void> {
    const waits = this.overlapping(range, reads);
    // Nothing starts while this waits, so what it waits for is all there is.
    if (waits.length > 0) await Promise.all(waits);
  }

  /** The WRITEs in flight that overlap `range` (and the READs, with `reads`), each as its settling promise. */
  private overlapping(range: ByteRange, reads: boolean): Promise<void>[] {
    const found: Promise<void>[] = [];
    for (const [done, other] of this.writesInFlight) if (overlaps(range, other)) found.push(done);
    if (reads) for (const [done, other] of this.readsInFlight) if (overlaps(range, other)) found.push(done);
    return found;
  }

  /**
   * Takes a WRITE's payload (a WRITE_ZEROES has none), with the WRITEs right behind it that land
   * with it as one write (`followingWrites`), has the backend decide it at once, and answers each
   * once the bytes have landed, unless the connection has stopped. A payload already buffered
   * (and the following ones, always buffered) is taken as views of the socket's chunks, no byte
   * copied; one still on its way is read into a pooled buffer where it spans chunks.
   */
  private async startWrite(backend: NbdExportBackend, request: NbdRequest, payloadBytes: number, agreed: TransmissionAgreement): Promise<void> {
    // Only once the payload is here: a WRITE that waits for its client does not wait for more.
    const buffered = payloadBytes > 0 && this.reader.buffered >= payloadBytes;
    const following = buffered ? this.followingWrites(backend, request) : [];
    const requests = [request, ...following];
    const length = following.reduce((sum, next) => sum + next.length, payloadBytes);
    let payload: ScatteredBytes = Buffer.alloc(0);
    // The pooled buffer the payload lies in, given back once it has landed.
    let holds: Buffer | undefined;
    // Ends the hold on the socket's memory the payload lies in, once it has landed.
    let release = (): void => undefined;
    if (buffered) ({ payload, release } = this.takeBufferedPayloads(requests));
    else if (payloadBytes > 0) {
      const pooled = this.buffers.take(payloadBytes);
      const read = await this.fromClient(payloadBytes, this.options.idleTimeoutMs, pooled);
      payload = read;
      // A payload that one socket chunk held is a view of it: the pooled buffer was not needed.
      if (read.buffer === pooled.buffer) holds = pooled;
      else this.buffers.give(pooled);
    }
    if (this.stopped) {
      if (holds !== undefined) this.buffers.give(holds);
      release();
      return;
    }
    this.writeBytesInFlight += length;
    this.options.writeBudget.take(length);
    const landing = following.length === 0 ? request : { ...request, length };
    const done: Promise<void> = this.land(backend, requests, landing, payload).then((results) => {
      this.writesInFlight.delete(done);
      this.writeBytesInFlight -= length;
      this.options.writeBudget.give(length);
      if (holds !== undefined) this.buffers.give(holds);
      release();
      // The bytes have landed (or failed) whatever became of the client: a failure is reported, and
      // a shutdown (stopped, the socket still open: finish() ends it after this) still answers.
      if (this.socket.destroyed) {
        requests.forEach((each, i) => this.report(backend, each, results[i] as RequestResult));
        return;
      }
      // The replies of WRITEs that landed together leave in one socket write (each wakes the client).
      if (requests.length > 1) this.socket.cork();
      let fine = true;
      requests.forEach((each, i) => {
        fine = this.answer(backend, each, results[i] as RequestResult, agreed) && fine;
      });
      if (requests.length > 1) this.socket.uncork();
      if (!fine) this.closeAfterFailure();
    });
    this.writesInFlight.set(done, rangeOf(landing));
  }

  /**
   * Lands `requests` (one WRITE, or WRITEs that follow each other) as the one write `landing` of
   * `payload`, and gives each its result. Where that write fails, each request is written again on
   * its own, one after the other, so each gets its own errno as if they had never been merged (its
   * bytes are the same, and nothing overlapping them runs until they are answered). One result per request.
   */
  private async land(backend: NbdExportBackend, requests: readonly NbdRequest[], landing: NbdRequest, payload: ScatteredBytes): Promise<RequestResult[]> {
    const result = await executeWriteInFlight(backend, landing, payload);
    if (requests.length === 1 || result.errno === NbdErrno.OK) return requests.map(() => result);
    const results: RequestResult[] = [];
    let at = 0;
    for (const each of requests) {
      results.push(await executeWriteInFlight(backend, each, sliceScattered(payload, at, at + each.length)));
      at += each.length;
    }
    return results;
  }

  /**
   * The WRITEs that follow `first` on the socket and may land with it as one write: each already
   * buffered whole (header and payload), without flags, starting where the one before ends, one
   * this backend writes in flight, overlapping nothing in flight, and all of them together within
   * SERVER_WRITE_MERGE_BYTES and the bounds of `roomForWrite`. `first`'s payload is buffered.
   */
  private followingWrites(backend: NbdExportBackend, first: NbdRequest): NbdRequest[] {
    const following: NbdRequest[] = [];
    if (first.type !== NbdCommand.WRITE || first.commandFlags !== 0) return following;
    const budget = this.options.writeBudget;
    let length = first.length;
    let at = first.length;
    // Bounded: each turn takes one more buffered request, or stops.
    for (;;) {
      const header = this.reader.peek(at, NBD_REQUEST_HEADER_BYTES);
      if (header === undefined) break;
      const next = decodeRequest(header);
      const start = Number(next.offsetBytes);
      const merged = length + next.length;
      if (next.magic !== NBD_REQUEST_MAGIC || next.type !== NbdCommand.WRITE || next.commandFlags !== 0 || next.length === 0) break;
      if (start !== Number(first.offsetBytes) + length || merged > SERVER_WRITE_MERGE_BYTES || !writesInFlight(backend, next)) break;
      if (this.reader.buffered < at + NBD_REQUEST_HEADER_BYTES + next.length) break;
      if (this.writesInFlight.size > 0 && (this.writeBytesInFlight + merged > SERVER_WRITE_BYTES_IN_FLIGHT || !budget.fits(merged))) break;
      if (this.overlapping(rangeOf(next), true).length > 0) break;
      following.push(next);
      length = merged;
      at += NBD_REQUEST_HEADER_BYTES + next.length;
    }
    return following;
  }

  /**
   * The payloads of `requests` (the first one's header already read, the others' headers between
   * them, all buffered) one after the other, as views of the socket's chunks: one buffer where one
   * chunk holds them all, else the list of views; and the function that releases them (once they
   * have landed: until then the socket reads nothing into their memory).
   */
  private takeBufferedPayloads(requests: readonly NbdRequest[]): { payload: ScatteredBytes; release: () => void } {
    const views: Buffer[] = [];
    const releases: (() => void)[] = [];
    for (const [i, each] of requests.entries()) {
      // The header was decided on by peeking: it is only skipped here.
      if (i > 0) this.reader.takeBuffered(NBD_REQUEST_HEADER_BYTES).release();
      const taken = this.reader.takeBuffered(each.length);
      views.push(...taken.views);
      releases.push(taken.release);
    }
    const release = releases.length === 1 ? (releases[0] as () => void) : () => releases.forEach((each) => each());
    return { payload: views.length === 1 ? (views[0] as Buffer) : views, release };
  }

  /** Runs a READ off the owning thread and answers it when it completes, unless the connection has stopped. */
  private startRead(backend: NbdExportBackend, request: NbdRequest, gate: () => Promise<boolean>, agreed: TransmissionAgreement): void {
    const range = rangeOf(request);
    this.bytesInFlight += request.length;
    const done: Promise<void> = executeRequest(backend, request, Buffer.alloc(0), gate, agreed, this.lendReplyBuffer).then((result) => {
      this.readsInFlight.delete(done);
      this.bytesInFlight -= request.length;
      if (this.stopped || this.socket.destroyed) {
        if (result.replyBuffer !== undefined) this.buffers.give(result.replyBuffer);
        return;
      }
      if (!this.answer(backend, request, result, agreed)) this.closeAfterFailure();
    });
    this.readsInFlight.set(done, range);
  }

  /** Resolves once every READ and WRITE in flight has settled (answered, or dropped). */
  private async settleInFlight(): Promise<void> {
    // Bounded: nothing starts while this waits.
    while (this.readsInFlight.size > 0 || this.writesInFlight.size > 0) await Promise.all([...this.readsInFlight.keys(), ...this.writesInFlight.keys()]);
  }

  /** A READ in flight failed with an internal error: no further request, and the connection closes. */
  private closeAfterFailure(): void {
    this.stopped = true;
    this.reader.close(this.closeReason);
    this.wakeDrainWait?.();
  }

  /** Sends the reply: structured chunks for READ and BLOCK_STATUS once agreed, else a simple reply. */
  private reply(request: NbdRequest, result: RequestResult, agreed: TransmissionAgreement): void {
    const chunked = agreed.structuredReplies && (request.type === NbdCommand.READ || request.type === NbdCommand.BLOCK_STATUS);
    const replyBuffer = result.replyBuffer;
    if (replyBuffer !== undefined) {
      if (result.errno === NbdErrno.OK && result.data !== undefined) {
        this.sendWithData(
          replyBuffer,
          result.data.length,
          chunked ? encodeOffsetDataHeader(request.handle, Number(request.offsetBytes), result.data.length) : encodeSimpleReply(result.errno, request.handle),
        );
        return;
      }
      this.buffers.give(replyBuffer);
    }
    if (!chunked) {
      this.socket.write(encodeSimpleReply(result.errno, request.handle));
      if (result.errno === NbdErrno.OK && result.data !== undefined) this.socket.write(result.data);
      return;
    }
    if (result.errno !== NbdErrno.OK) {
      // The reason of a refusal (the server's own words) goes to the client; a backend failure's text stays in the server's log.
      const why = result.refusal === undefined ? '' : `: ${result.refusal}`;
      this.socket.write(encodeErrorChunk(request.handle, result.errno, `${nbdErrnoName(result.errno)} on ${nbdCommandName(request.type)}${why}`));
      return;
    }
    if (result.data !== undefined) {
      this.socket.write(encodeOffsetDataHeader(request.handle, Number(request.offsetBytes), result.data.length));
      this.socket.write(result.data);
      return;
    }
    const contexts = result.blockStatus ?? [];
    contexts.forEach((c, i) => this.socket.write(encodeBlockStatusChunk(request.handle, c.contextId, c.extents, i === contexts.length - 1)));
  }

  /**
   * One write of a READ's header and its data, which lies READ_HEADER_ROOM bytes into `replyBuffer`:
   * the header goes just in front of it. The buffer goes back to the pool once the socket is done with it.
   */
  private sendWithData(replyBuffer: Buffer, dataBytes: number, header: Buffer): void {
    const start = READ_HEADER_ROOM - header.length;
    header.copy(replyBuffer, start);
    this.socket.write(replyBuffer.subarray(start, READ_HEADER_ROOM + dataBytes), () => this.buffers.give(replyBuffer));
  }

  /**
   * Exactly `length` bytes from the client. While it has to wait, the connection counts as idle
   * (see `idleSince`); with `idleTimeoutMs`, a wait that long drops the connection.
   */
  private async fromClient(length: number, idleTimeoutMs?: number, into?: Buffer): Promise<Buffer> {
    if (this.reader.buffered >= length) return this.reader.readExact(length, into);
    const read = (): Promise<Buffer> => this.reader.readExact(length, into);
    return this.waitingForClient(() => (idleTimeoutMs === undefined ? read() : this.withIdleTimer(idleTimeoutMs, 'sent no request', read)));
  }

  private async waitingForClient<T>(wait: () => Promise<T>): Promise<T> {
    this.waitingSince = Date.now();
    try {
      return await wait();
    } finally {
      this.waitingSince = undefined;
    }
  }

  private async withIdleTimer<T>(idleTimeoutMs: number, what: string, wait: () => Promise<T>): Promise<T> {
    const timer = setTimeout(() => this.abort(`idle: client ${what} for ${idleTimeoutMs / 1000} s`), idleTimeoutMs);
    try {
      return await wait();
    } finally {
      clearTimeout(timer);
    }
  }

  private waitForDrain(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        this.wakeDrainWait = undefined;
        resolve();
      };
      this.wakeDrainWait = done;
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  private noteFailure(error: unknown): void {
    if (error instanceof FrameReaderClosed) {
      if (this.closeReason === 'connection closed') this.closeReason = error.reason;
      return;
    }
    if (error instanceof NbdProtocolError) {
      this.closeReason = error.message;
      this.options.emit({ kind: 'protocol-error', connectionId: this.connectionId, error });
      return;
    }
    // Anything else is a bug in this layer; it must still not take the whole server down.
    this.closeReason = `internal error: ${error instanceof Error ? error.message : String(error)}`;
    const wrapped = new NbdProtocolError(`Cannot serve connection ${this.connectionId}: ${this.closeReason}`, {});
    this.options.emit({ kind: 'protocol-error', connectionId: this.connectionId, error: wrapped });
  }

  private abort(reason: string): void {
    this.closeReason = reason;
    this.stopped = true;
    this.reader.close(reason);
    this.socket.destroy();
  }

  /** Ends the socket after queued replies, and destroys it if the peer does not let it drain. */
  private async finish(): Promise<void> {
    if (this.state === 'closed') return;
    // The volume stays open until the READs and WRITEs in flight have settled (the server closes it after us).
    await this.settleInFlight();
    if (this.isClosed()) return;
    if (canTransition(this.state, 'closing')) {
      this.setState('closing');
      this.reader.close(this.closeReason);
      // Discard whatever the peer still sends, so its end of stream (and our 'close') can arrive.
      this.socket.resume();
      this.socket.end();
      const timer = setTimeout(() => this.socket.destroy(), CLOSE_DRAIN_TIMEOUT_MS);
      await this.closed;
      clearTimeout(timer);
    } else {
      await this.closed;
    }
    // Another caller (run or shutdown) may have finished while this one waited.
    if (this.isClosed()) return;
    this.setState('closed');
    this.options.emit({ kind: 'connection-closed', connectionId: this.connectionId, reason: this.closeReason });
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private setState(next: NbdConnectionState): void {
    this.state = transition(this.state, next);
  }
}
