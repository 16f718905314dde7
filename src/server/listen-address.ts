/**
 * Where `snaptape serve` listens: the NBD address (`host:port`) and the control address (a unix
 * socket path, or `host:port` for TCP). Both are loopback-only unless the operator says
 * `--listen-any`: NBD exports carry whole volumes without authentication, and the control API can
 * start sessions that write files anywhere the server can.
 *
 * Rule for the control spec: a value of the form `HOST:PORT` (a port of digits, no `/` in it) is
 * TCP; anything else is a unix socket path.
 */
import { UsageError } from '../errors/snaptape-error.js';
import { isLoopbackHost } from '../export/nbd-server.js';

/** The NBD standard port (IANA 10809), the default of `--nbd`. */
export const DEFAULT_NBD_PORT = 10809;
export const DEFAULT_HOST = '127.0.0.1';
/** sockaddr_un.sun_path holds 108 bytes on Linux, including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

export interface TcpAddress {
  readonly host: string;
  readonly port: number;
}

export type ControlAddress = { readonly kind: 'unix'; readonly path: string } | ({ readonly kind: 'tcp' } & TcpAddress);

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

export function parseControlAddress(spec: string): ControlAddress {
  if (HOST_PORT.test(spec)) return { kind: 'tcp', ...parseTcpAddress(spec, '--control') };
  if (spec.length === 0) throw new UsageError('Cannot parse --control: the value is empty');
  if (Buffer.byteLength(spec) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw new UsageError(`Cannot listen on unix socket ${spec}: the path is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes`, { path: spec });
  }
  return { kind: 'unix', path: spec };
}

/** Refuses a non-loopback host unless `listenAny`; returns the warning to print when it is allowed. */
export function checkBindHost(host: string, what: string, listenAny: boolean): string | undefined {
  if (isLoopbackHost(host)) return undefined;
  if (!listenAny) throw new UsageError(`Cannot listen for ${what} on ${host}: not a loopback address (give --listen-any to allow it)`, { host });
  return `${what} listens on ${host}, which is not a loopback address: anyone who can reach it can ${what === 'NBD' ? 'read and write the volumes' : 'control the server (with the token)'}`;
}
