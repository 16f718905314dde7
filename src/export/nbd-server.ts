/**
 * The NBD server: listens on a unix socket (owner-only, or owner and one group) or on a TCP port
 * (loopback by default), and serves one export per backend, by name, with fixed newstyle
 * negotiation and simple replies. With TLS keys, every client must upgrade to TLS-PSK first
 * (nbd-tls.ts). See nbd-negotiation.ts for the options and nbd-transmission.ts for the commands.
 *
 * Invariants:
 * - export names are unique; "" selects the export named "" or else the first one;
 * - the server binds to a loopback address unless `allowRemote` is set;
 * - at most `maxConnections` connections are served. When full, a newcomer takes the place of a
 *   connection waiting for its client, which is dropped: first the one that has been in its
 *   handshake longest (an honest client is through it in milliseconds, a slowloris trickles bytes
 *   and stays in it), else the one in transmission that has waited longest (for request bytes, or
 *   to read a reply; counted from the last byte heard); only when every connection is working at
 *   that instant is the newcomer refused.
 *   So idle clients, however many, cannot lock a new client out, a flood of handshakes that never
 *   end cannot push out a client resting between requests, and a busy one is never dropped;
 * - a client idle after the handshake for `idleTimeoutMs` is disconnected;
 * - one connection's failure never affects another or the server;
 * - `close()` stops accepting, drains every connection (queued replies are flushed), and resolves
 *   when all sockets are gone and every WRITE in flight has landed (evicted connections' too), so
 *   the caller may close the volumes then;
 * - WRITE payloads in flight on all connections stay under SERVER_TOTAL_WRITE_BYTES_IN_FLIGHT plus
 *   one payload per connection (write-budget.ts).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { assert } from '../base/assert.js';
import { connectionToEvict } from '../base/connection-eviction.js';
import { UsageError } from '../errors/snaptape-error.js';
import { listenOnUnixSocket, removeSocketFile } from '../base/unix-socket-file.js';
import type { NbdExportBackend } from './nbd-backend.js';
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  MAX_CONNECTIONS,
  MAX_EXPORTS,
  MAX_NAME_BYTES,
  SERVER_TOTAL_WRITE_BYTES_IN_FLIGHT,
} from './nbd-constants.js';
import { WriteBudget } from './write-budget.js';
import { NbdServerConnection } from './nbd-server-connection.js';
import type { NbdServerEvent, NbdServerEventListener } from './nbd-server-events.js';
import type { PskKeys } from './nbd-tls.js';

/** Default TCP bind address: over TCP, only TLS keys authenticate a client. */
export const DEFAULT_NBD_HOST = '127.0.0.1';
/** Longest idle timeout: a timer's limit (2^31 - 1 ms, about 24.8 days). */
export const MAX_IDLE_TIMEOUT_MS = 0x7fff_ffff;
/** Listeners per server: the serve command and a test or two; more is a leak. */
export const MAX_EVENT_LISTENERS = 16;

export interface NbdServerOptions {
  readonly exports: readonly NbdExportBackend[];
  /** Address to bind; default 127.0.0.1. A non-loopback address needs `allowRemote`. */
  readonly host?: string;
  /** TCP port; default 0 (an ephemeral port, see `address`). The NBD standard port is 10809. */
  readonly port?: number;
  readonly allowRemote?: boolean;
  readonly handshakeTimeoutMs?: number;
  /** After the handshake: no request (or no reply read) for this long closes a connection; default 5 min. */
  readonly idleTimeoutMs?: number;
  readonly maxConnections?: number;
  /** TLS-PSK keys: when given, every client must STARTTLS with one of them before anything else. */
  readonly tlsKeys?: PskKeys;
}

export interface NbdServerAddress {
  readonly host: string;
  readonly port: number;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function validateOptions(options: NbdServerOptions): void {
  const count = options.exports.length;
  if (count === 0 || count > MAX_EXPORTS) throw new UsageError(`Cannot serve NBD: ${count} exports given, need 1 to ${MAX_EXPORTS}`, { exportCount: count });
  const names = new Set<string>();
  for (const backend of options.exports) {
    if (names.has(backend.name)) throw new UsageError(`Cannot serve NBD: export name '${backend.name}' is used twice`, { exportName: backend.name });
    if (Buffer.byteLength(backend.name, 'utf8') > MAX_NAME_BYTES)
      throw new UsageError(`Cannot serve NBD: export name is longer than ${MAX_NAME_BYTES} bytes`, {});
    names.add(backend.name);
  }
  const idle = options.idleTimeoutMs;
  if (idle !== undefined && !(Number.isInteger(idle) && idle >= 1 && idle <= MAX_IDLE_TIMEOUT_MS)) {
    throw new UsageError(`Cannot serve NBD: idle timeout ${idle} ms is not a whole number from 1 to ${MAX_IDLE_TIMEOUT_MS}`, { idleTimeoutMs: String(idle) });
  }
  const host = options.host ?? DEFAULT_NBD_HOST;
  if (!isLoopbackHost(host) && options.allowRemote !== true) {
    throw new UsageError(`Cannot serve NBD on ${host}: not a loopback address, and exports have no authentication (allow it explicitly)`, { host });
  }
}

export class NbdServer {
  // Set once.
  private readonly options: NbdServerOptions;
  private readonly server: Server;
  private readonly maxConnections: number;
  private readonly pausedOnConnect: boolean;
  // Main thread only.
  private readonly connections = new Map<number, NbdServerConnection>();
  /** Every connection's run, evicted ones too: close() waits for their writes in flight. */
  private readonly runs = new Set<Promise<void>>();
  /** Payload bytes of WRITEs in flight on all connections. */
  private readonly writeBudget = new WriteBudget(SERVER_TOTAL_WRITE_BYTES_IN_FLIGHT);
  private readonly listeners = new Set<NbdServerEventListener>();
  private nextConnectionId = 1;
  private boundAddress: NbdServerAddress | undefined;
  private socketPath: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: NbdServerOptions) {
    validateOptions(options);
    this.options = { ...options, exports: [...options.exports] };
    this.maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
    // Half-open: a client that sends requests and then shuts its side still gets every reply;
    // the connection ends its own side once the buffered requests are answered.
    // Paused: a connection reads its socket into reused memory (FrameReader.adopting). Not with
    // TLS keys: every client then upgrades, and TLS reads the socket its own way.
    this.pausedOnConnect = options.tlsKeys === undefined;
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: this.pausedOnConnect }, (socket) => this.accept(socket));
  }

  /**
   * Listens on a unix socket at `path`, mode 0600, or 0660 with group `groupId` (the socket file
   * is the credential). A stale socket there is removed; any other file there is refused.
   */
  async listenUnix(path: string, options: { groupId?: number } = {}): Promise<string> {
    assert(this.boundAddress === undefined && this.socketPath === undefined && this.closing === undefined, 'listen is called once, before close');
    try {
      await listenOnUnixSocket(this.server, path, options.groupId);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`Cannot serve NBD on unix socket ${path}: ${error instanceof Error ? error.message : String(error)}`, { path });
    }
    this.socketPath = path;
    return path;
  }

  /** Starts listening on TCP; resolves with the bound address (the real port when port 0 was asked). */
  listen(): Promise<NbdServerAddress> {
    assert(this.boundAddress === undefined && this.socketPath === undefined && this.closing === undefined, 'listen is called once, before close');
    const host = this.options.host ?? DEFAULT_NBD_HOST;
    return new Promise<NbdServerAddress>((resolve, reject) => {
      const onError = (error: Error): void => reject(new UsageError(`Cannot serve NBD on ${host}:${this.options.port ?? 0}: ${error.message}`, { host }));
      this.server.once('error', onError);
      this.server.listen({ host, port: this.options.port ?? 0 }, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        assert(address !== null && typeof address === 'object', 'a TCP server has an address object');
        this.boundAddress = { host, port: address.port };
        resolve(this.boundAddress);
      });
    });
  }

  get address(): NbdServerAddress {
    assert(this.boundAddress !== undefined, 'the server is listening');
    return this.boundAddress;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  get exportNames(): readonly string[] {
    return this.options.exports.map((backend) => backend.name);
  }

  /** Subscribes to server events; returns the unsubscribe function. */
  onEvent(listener: NbdServerEventListener): () => void {
    assert(this.listeners.size < MAX_EVENT_LISTENERS, `at most ${MAX_EVENT_LISTENERS} event listeners`);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops accepting, drains and closes every connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.connections.values()].map((connection) => connection.shutdown('server shutting down')));
    // An evicted connection has left the map but may still wait for its writes in flight.
    await Promise.all([...this.runs]);
    await stopped;
    if (this.socketPath !== undefined) removeSocketFile(this.socketPath);
  }

  private accept(socket: Socket): void {
    const remoteAddress = this.socketPath !== undefined ? `unix:${this.socketPath}` : `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    if (this.closing === undefined && this.connections.size >= this.maxConnections) this.evictLongestIdle();
    if (this.closing !== undefined || this.connections.size >= this.maxConnections) {
      const reason = this.closing !== undefined ? 'server is closing' : `already serving ${this.maxConnections} connections`;
      socket.on('error', () => undefined);
      socket.destroy();
      this.emit({ kind: 'connection-refused', remoteAddress, reason });
      return;
    }
    const connectionId = this.nextConnectionId++;
    const connection = new NbdServerConnection(socket, {
      connectionId,
      directory: { exports: this.options.exports },
      handshakeTimeoutMs: this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      ...(this.options.tlsKeys !== undefined ? { tlsKeys: this.options.tlsKeys } : {}),
      idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      emit: (event) => this.emit(event),
      writeBudget: this.writeBudget,
      pausedOnConnect: this.pausedOnConnect,
    });
    this.connections.set(connectionId, connection);
    this.emit({ kind: 'connection-opened', connectionId, remoteAddress });
    const run: Promise<void> = connection.run().finally(() => {
      this.connections.delete(connectionId);
      this.runs.delete(run);
    });
    this.runs.add(run);
  }

  /**
   * Drops a connection waiting for its client, if any waits (base/connection-eviction.ts: the
   * oldest still in its handshake, the map being in arrival order, else the one in transmission
   * that has waited longest). It leaves the count at once.
   */
  private evictLongestIdle(): void {
    const victim = connectionToEvict(this.connections.values());
    if (victim === undefined) return;
    this.connections.delete(victim.connectionId);
    victim.evict(
      victim.inHandshake
        ? 'evicted: the server was full and this connection had been in its handshake longest'
        : 'evicted: the server was full and this connection had been idle longest',
    );
  }

  private emit(event: NbdServerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the protocol engine carries on.
      }
    }
  }
}
