/**
 * Where `snaptape serve` listens: the NBD address (`unix:PATH`, or `host:port` for TCP) and the
 * control address (a unix socket path, or `host:port` for TCP). TCP is loopback-only unless the
 * operator says `--listen-any`: NBD exports carry whole volumes, and the control API can start
 * sessions that write files anywhere the server can.
 *
 * Who may use NBD (a table; loopback keeps other hosts out, not other local accounts):
 *
 *   transport          | exports              | allowed
 *   -------------------+----------------------+-----------------------------------------------
 *   unix socket        | any                  | yes: mode 0600 (or 0660 with --nbd-group)
 *   TCP with TLS-PSK   | any                  | yes: only holders of a key get past STARTTLS
 *   TCP, no TLS        | all read-only        | yes, as before
 *   TCP, no TLS        | any writable         | only with --insecure-tcp, which warns
 *
 * Rule for the control spec: a value of the form `HOST:PORT` (a port of digits, no `/` in it) is
 * TCP; anything else is a unix socket path.
 */
import { UsageError } from '../errors/snaptape-error.js';
import { isLoopbackHost } from '../export/nbd-server.js';

/** The NBD standard port (IANA 10809), for `--nbd HOST:` without a port. */
export const DEFAULT_NBD_PORT = 10809;
/** The default NBD socket sits beside the first image, as the control socket does. */
export const DEFAULT_NBD_SOCKET_SUFFIX = '.nbd.sock';
export const DEFAULT_HOST = '127.0.0.1';
/** sockaddr_un.sun_path holds 108 bytes on Linux, including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

export interface TcpAddress {
  readonly host: string;
  readonly port: number;
}

export type ControlAddress = { readonly kind: 'unix'; readonly path: string } | ({ readonly kind: 'tcp' } & TcpAddress);
export type NbdAddress = { readonly kind: 'unix'; readonly path: string } | ({ readonly kind: 'tcp' } & TcpAddress);

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[^/:]*):(\d{1,5})$/;

function parsePort(text: string, what: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`Cannot parse ${what}: port ${text} is not 0-65535`, { value: text });
  return port;
}

/** Parses `HOST:PORT`, `:PORT` or `PORT` (host defaults to 127.0.0.1). */
export function parseTcpAddress(spec: string, what: string): TcpAddress {
  if (/^\d{1,5}$/.test(spec)) return { host: DEFAULT_HOST, port: parsePort(spec, what) };
  const match = HOST_PORT.exec(spec);
  if (!match) throw new UsageError(`Cannot parse ${what}: "${spec}" is not HOST:PORT`, { value: spec });
  const rawHost = match[1] ?? '';
  const host = rawHost === '' ? DEFAULT_HOST : rawHost.replace(/^\[|\]$/g, '');
  return { host, port: parsePort(match[2] ?? '', what) };
}

function checkSocketPath(path: string, what: string): string {
  if (path.length === 0) throw new UsageError(`Cannot parse ${what}: the socket path is empty`);
  if (Buffer.byteLength(path) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw new UsageError(`Cannot listen on unix socket ${path}: the path is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes (give ${what} a shorter one)`, {
      path,
    });
  }
  return path;
}

/** Parses a control address: HOST:PORT (TCP) or a Unix socket path. Throws UsageError for a bad port or socket path. */
export function parseControlAddress(spec: string): ControlAddress {
  if (HOST_PORT.test(spec)) return { kind: 'tcp', ...parseTcpAddress(spec, '--control') };
  return { kind: 'unix', path: checkSocketPath(spec, '--control') };
}

/** `unix:PATH` is a unix socket; anything else is `HOST:PORT`, `:PORT` or `PORT`. */
export function parseNbdAddress(spec: string): NbdAddress {
  if (spec.startsWith('unix:')) return { kind: 'unix', path: checkSocketPath(spec.slice('unix:'.length), '--nbd') };
  return { kind: 'tcp', ...parseTcpAddress(spec, '--nbd') };
}

/** How NBD is protected, for `checkNbdAccess`. */
export interface NbdAccess {
  readonly tls: boolean;
  readonly insecureTcp: boolean;
  readonly allReadOnly: boolean;
}

/** Applies the table of the module comment; returns the warning to print when plain TCP is allowed. */
export function checkNbdAccess(address: NbdAddress, access: NbdAccess): string | undefined {
  if (address.kind === 'unix' || access.tls || access.allReadOnly) return undefined;
  if (!access.insecureTcp) {
    throw new UsageError(
      `Cannot serve writable volumes over NBD on TCP ${address.host}:${address.port} without TLS: give --tls-psk FILE, use --nbd unix:PATH, or --insecure-tcp`,
      { host: address.host },
    );
  }
  return `NBD on TCP ${address.host}:${address.port} has no TLS (--insecure-tcp): every local account can read and write the volumes`;
}

/** Refuses a non-loopback host unless `listenAny`; returns the warning to print when it is allowed. */
export function checkBindHost(host: string, what: string, listenAny: boolean): string | undefined {
  if (isLoopbackHost(host)) return undefined;
  if (!listenAny) throw new UsageError(`Cannot listen for ${what} on ${host}: not a loopback address (give --listen-any to allow it)`, { host });
  return `${what} listens on ${host}, which is not a loopback address: anyone who can reach it can ${what === 'NBD' ? 'read and write the volumes' : 'control the server (with the token)'}`;
}
