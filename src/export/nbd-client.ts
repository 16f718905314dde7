/**
 * A minimal NBD client: over TCP or a unix socket, optionally upgraded to TLS-PSK (STARTTLS),
 * fixed newstyle, NBD_OPT_GO, simple replies, and pipelined requests matched to replies by
 * handle. Tests use it, and the mirror technique uses it as the link to a remote snaptape server.
 *
 * Invariants:
 * - at most `maxInFlight` requests are outstanding; further callers wait in a bounded queue;
 * - every request settles exactly once: with its reply, or with an error when the connection ends;
 * - a reply with an unknown handle or a bad magic is a protocol error that ends the connection;
 * - arguments outside the export are refused locally with AddressRangeError, before sending.
 */
import { connect, type Socket } from 'node:net';
import { assertInteger } from '../base/assert.js';
import { decodeFields, encodeFields, num } from '../base/field-table.js';
import { AddressRangeError, NbdProtocolError, UsageError } from '../errors/snaptape-error.js';
import { nbdErrnoName } from './nbd-backend.js';
import { clientHandshake, type NbdExportInfo } from './nbd-client-handshake.js';
import type { NbdTlsCredentials } from './nbd-tls.js';
import {
  CLIENT_MAX_IN_FLIGHT,
  CLIENT_MAX_WAITERS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  MAX_REQUEST_PAYLOAD_BYTES,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NbdCommand,
  nbdCommandName,
  READ_AHEAD_BYTES,
  type NbdCommandType,
} from './nbd-constants.js';
import { NBD_REQUEST, NBD_SIMPLE_REPLY, readU64, u64Bytes } from './nbd-layouts.js';
import { FrameReader } from './frame-reader.js';
import type { MirrorLinkMode } from './mirror-link-option.js';

export type { NbdBlockSize, NbdExportInfo } from './nbd-client-handshake.js';

/** Where the server is: `port` (and `host`) for TCP, or `socketPath` for a unix socket. */
export interface NbdClientOptions {
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  readonly socketPath?: string;
  /** TLS-PSK credentials: the client sends NBD_OPT_STARTTLS and upgrades before anything else. */
  readonly tls?: NbdTlsCredentials;
  /** Default "" (the server's default export). */
  readonly exportName?: string;
  /** Connect plus handshake must finish within this; default DEFAULT_HANDSHAKE_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  readonly maxInFlight?: number;
  /** A mirror's link: tell the secondary's server the mirror's mode first (mirror-link-option.ts). */
  readonly mirrorLink?: MirrorLinkMode;
}

export interface NbdWriteOptions {
  /** NBD_CMD_FLAG_FUA: the reply waits until the data is durable. */
  readonly fua?: boolean;
}

export interface NbdWriteZeroesOptions extends NbdWriteOptions {
  /** NBD_CMD_FLAG_NO_HOLE: the server must allocate, not punch a hole. */
  readonly noHole?: boolean;
}

interface PendingRequest {
  readonly type: NbdCommandType;
  readonly length: number;
  readonly resolve: (data: Buffer) => void;
  readonly reject: (error: Error) => void;
}

export class NbdClient {
  // Set once.
  readonly info: NbdExportInfo;
  private readonly socket: Socket;
  private readonly reader: FrameReader;
  private readonly maxInFlight: number;
  // Main thread only.
  private readonly pending = new Map<bigint, PendingRequest>();
  private readonly slotWaiters: Array<() => void> = [];
  private nextHandle = 1n;
  private closedError: Error | undefined;
  /** A mirror link's connection: the units the secondary says were written while it was split. */
  mirrorLinkWrites: readonly number[] = [];

  private constructor(socket: Socket, reader: FrameReader, info: NbdExportInfo, maxInFlight: number) {
    this.socket = socket;
    this.reader = reader;
    this.info = info;
    this.maxInFlight = maxInFlight;
    void this.replyLoop();
  }

  /** Connects, negotiates the export, and returns a client in the transmission phase. */
  static async connect(options: NbdClientOptions): Promise<NbdClient> {
    const host = options.host ?? '127.0.0.1';
    const exportName = options.exportName ?? '';
    const maxInFlight = options.maxInFlight ?? CLIENT_MAX_IN_FLIGHT;
    assertInteger(maxInFlight, 'maxInFlight', 1, CLIENT_MAX_IN_FLIGHT);
    const where = options.socketPath !== undefined ? `unix socket ${options.socketPath}` : `${host}:${options.port ?? '?'}`;
    if ((options.socketPath === undefined) === (options.port === undefined)) {
      throw new UsageError(`Cannot open export '${exportName}': give either a port or a socket path`, { exportName });
    }
    const socket = options.socketPath !== undefined ? connect(options.socketPath) : connect({ host, port: options.port ?? 0 });
    if (options.socketPath === undefined) socket.setNoDelay(true);
    const reader = new FrameReader(socket, { readAheadBytes: READ_AHEAD_BYTES, maxFrameBytes: MAX_REQUEST_PAYLOAD_BYTES });
    const timeoutMs = options.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const timer = setTimeout(() => socket.destroy(new Error(`handshake took longer than ${timeoutMs} ms`)), timeoutMs);
    try {
      const result = await clientHandshake(socket, reader, exportName, options.tls, options.mirrorLink);
      const client = new NbdClient(result.socket, result.reader, result.info, maxInFlight);
      client.mirrorLinkWrites = result.mirrorLinkWrites;
      return client;
    } catch (error) {
      socket.destroy();
      if (error instanceof NbdProtocolError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new NbdProtocolError(`Cannot open export '${exportName}' on ${where}: ${reason}`, { where, exportName });
    } finally {
      clearTimeout(timer);
    }
  }

  async read(offsetBytes: number, length: number): Promise<Buffer> {
    this.checkRange('read', offsetBytes, length, true);
    return this.request(NbdCommand.READ, 0, offsetBytes, length);
  }

  async write(offsetBytes: number, data: Buffer, options: NbdWriteOptions = {}): Promise<void> {
    this.checkRange('write', offsetBytes, data.length, true);
    await this.request(NbdCommand.WRITE, options.fua === true ? NBD_CMD_FLAG_FUA : 0, offsetBytes, data.length, data);
  }

  async writeZeroes(offsetBytes: number, length: number, options: NbdWriteZeroesOptions = {}): Promise<void> {
    this.checkRange('write zeroes', offsetBytes, length, false);
    const flags = (options.fua === true ? NBD_CMD_FLAG_FUA : 0) | (options.noHole === true ? NBD_CMD_FLAG_NO_HOLE : 0);
    await this.request(NbdCommand.WRITE_ZEROES, flags, offsetBytes, length);
  }

  async trim(offsetBytes: number, length: number): Promise<void> {
    this.checkRange('trim', offsetBytes, length, false);
    await this.request(NbdCommand.TRIM, 0, offsetBytes, length);
  }

  async flush(): Promise<void> {
    await this.request(NbdCommand.FLUSH, 0, 0, 0);
  }

  /**
   * Sends a raw request without local checks (for tests that probe the server's own checks).
   * Resolves with READ data, or rejects with the server's errno in `details.errno`.
   */
  async rawRequest(request: { type: number; flags?: number; offsetBytes: number; length: number; data?: Buffer }): Promise<Buffer> {
    return this.request(request.type as NbdCommandType, request.flags ?? 0, request.offsetBytes, request.length, request.data);
  }

  /** Waits for outstanding requests, sends NBD_CMD_DISC, and closes the socket. */
  async disconnect(): Promise<void> {
    if (this.closedError !== undefined) return;
    await this.drainPending();
    if (this.closedError === undefined) this.sendRequest(NbdCommand.DISC, 0, 0n, 0, 0);
    this.fail(new NbdProtocolError(`Cannot use export '${this.info.exportName}': the client disconnected`, {}));
    await new Promise<void>((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end(() => resolve());
    });
    this.socket.destroy();
  }

  /** Drops the connection at once; outstanding requests reject. */
  destroy(): void {
    this.fail(new NbdProtocolError(`Cannot use export '${this.info.exportName}': the client was destroyed`, {}));
    this.socket.destroy();
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private async drainPending(): Promise<void> {
    // Bounded: each turn waits for at least one reply, and at most maxInFlight are outstanding.
    while (this.pending.size > 0 && this.closedError === undefined) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
  }

  private checkRange(action: string, offsetBytes: number, length: number, payloadLimited: boolean): void {
    const limit = payloadLimited ? MAX_REQUEST_PAYLOAD_BYTES : 0xffff_ffff;
    if (
      !Number.isInteger(offsetBytes) ||
      !Number.isInteger(length) ||
      offsetBytes < 0 ||
      length < 0 ||
      length > limit ||
      offsetBytes + length > this.info.sizeBytes
    ) {
      throw new AddressRangeError(
        `Cannot ${action} ${length} bytes at offset ${offsetBytes}: export '${this.info.exportName}' has ${this.info.sizeBytes} bytes`,
        {
          exportName: this.info.exportName,
          offsetBytes,
          length,
        },
      );
    }
  }

  private async request(type: NbdCommandType, flags: number, offsetBytes: number, length: number, data?: Buffer): Promise<Buffer> {
    await this.acquireSlot();
    if (this.closedError !== undefined) throw this.closedError;
    const handle = this.nextHandle++;
    const reply = new Promise<Buffer>((resolve, reject) => this.pending.set(handle, { type, length, resolve, reject }));
    this.sendRequest(type, flags, handle, offsetBytes, length, data);
    return reply;
  }

  private sendRequest(type: NbdCommandType, flags: number, handle: bigint, offsetBytes: number, length: number, data?: Buffer): void {
    const handleBytes = Buffer.alloc(8);
    handleBytes.writeBigUInt64BE(handle);
    this.socket.write(
      encodeFields(NBD_REQUEST, {
        magic: NBD_REQUEST_MAGIC,
        commandFlags: flags,
        type,
        handle: handleBytes,
        offsetBytes: u64Bytes(offsetBytes),
        length,
      }),
    );
    if (data !== undefined && data.length > 0) this.socket.write(data);
  }

  private acquireSlot(): Promise<void> {
    if (this.pending.size < this.maxInFlight || this.closedError !== undefined) return Promise.resolve();
    if (this.slotWaiters.length >= CLIENT_MAX_WAITERS) {
      return Promise.reject(new UsageError(`Cannot queue another NBD request: ${CLIENT_MAX_WAITERS} callers already wait for a slot`, {}));
    }
    return new Promise<void>((resolve) => this.slotWaiters.push(resolve)).then(() => this.acquireSlot());
  }

  private wakeWaiters(): void {
    const waiters = this.slotWaiters.splice(0);
    for (const wake of waiters) wake();
  }

  private async replyLoop(): Promise<void> {
    try {
      // Bounded by the connection's life: each turn consumes one 16-byte reply header.
      for (;;) {
        const header = decodeFields(NBD_SIMPLE_REPLY, await this.reader.readExact(NBD_SIMPLE_REPLY.size));
        const rawHandle = header['handle'];
        const handle = rawHandle instanceof Uint8Array ? readU64(rawHandle) : -1n;
        const entry = this.pending.get(handle);
        if (num(header, 'magic') !== NBD_SIMPLE_REPLY_MAGIC || entry === undefined) {
          throw new NbdProtocolError(`Cannot read a reply from export '${this.info.exportName}': bad magic or unknown handle`, {});
        }
        const errno = num(header, 'error');
        const data = errno === 0 && entry.type === NbdCommand.READ ? await this.reader.readExact(entry.length) : Buffer.alloc(0);
        this.pending.delete(handle);
        if (errno === 0) entry.resolve(data);
        else entry.reject(commandError(this.info.exportName, entry.type, errno));
        this.wakeWaiters();
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.fail(error instanceof NbdProtocolError ? error : new NbdProtocolError(`Cannot use export '${this.info.exportName}': ${reason}`, {}));
      this.socket.destroy();
    }
  }

  private fail(error: Error): void {
    this.closedError ??= error;
    for (const entry of this.pending.values()) entry.reject(this.closedError);
    this.pending.clear();
    this.reader.close(error.message);
    this.wakeWaiters();
  }
}

function commandError(exportName: string, type: number, errno: number): NbdProtocolError {
  const command = nbdCommandName(type);
  return new NbdProtocolError(`Cannot ${command} on export '${exportName}': server replied ${nbdErrnoName(errno)}`, {
    exportName,
    command,
    errno,
    errnoName: nbdErrnoName(errno),
  });
}
