/**
 * TLS with a pre-shared key for NBD over TCP, as qemu and libnbd speak it (GnuTLS on their side):
 * the client sends NBD_OPT_STARTTLS during option haggling, the server ACKs it, and both upgrade
 * the same TCP connection to TLS 1.2 with a PSK key exchange ("TLS support" in proto.md).
 *
 * Keys come from a file in the format of GnuTLS's `psktool`: one `username:hexkey` a line.
 *
 * Decision: TLS 1.2 with ECDHE-PSK or DHE-PSK and an AEAD cipher only. Both give forward
 * secrecy (a key that leaks later does not open recorded sessions); GnuTLS's default priority,
 * with the PSK key exchanges that qemu and libnbd add for PSK credentials, accepts them. TLS 1.3
 * PSK is left out because Node's TLS offers PSK callbacks for TLS 1.2 only.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import { UsageError } from '../errors/snaptape-error.js';

/** PSK suites we accept, strongest first. */
export const NBD_PSK_CIPHERS = ['ECDHE-PSK-CHACHA20-POLY1305', 'DHE-PSK-AES256-GCM-SHA384', 'DHE-PSK-CHACHA20-POLY1305', 'DHE-PSK-AES128-GCM-SHA256'].join(':');
/** A key file larger than this is not a psktool file. */
const MAX_PSK_FILE_BYTES = 64 * 1024;
/** RFC 4279: a PSK identity is at most 128 bytes. */
const MAX_PSK_IDENTITY_BYTES = 128;
/** psktool writes 32-byte keys; RFC 4279 allows up to 64 bytes. Below 16 is too weak to serve. */
const MIN_PSK_KEY_BYTES = 16;
const MAX_PSK_KEY_BYTES = 64;

/** Usernames and their keys, as read from a psktool file. */
export type PskKeys = ReadonlyMap<string, Buffer>;

/** Reads a psktool key file; any malformed line is a UsageError naming the file and line. */
export function readPskFile(path: string): PskKeys {
  let text: string;
  try {
    const raw = readFileSync(path);
    if (raw.length > MAX_PSK_FILE_BYTES) throw new UsageError(`Cannot read PSK file ${path}: it is larger than ${MAX_PSK_FILE_BYTES} bytes`, { path });
    text = raw.toString('utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`Cannot read PSK file ${path}: ${error instanceof Error ? error.message : String(error)}`, { path });
  }
  const keys = new Map<string, Buffer>();
  text.split('\n').forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '') return;
    const colon = line.lastIndexOf(':');
    const username = line.slice(0, Math.max(colon, 0));
    const hex = line.slice(colon + 1);
    const where = `Cannot read PSK file ${path}: line ${index + 1}`;
    if (colon <= 0 || Buffer.byteLength(username, 'utf8') > MAX_PSK_IDENTITY_BYTES)
      throw new UsageError(`${where} is not username:hexkey`, { path, line: index + 1 });
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError(`${where}: the key of ${username} is not hexadecimal`, { path, line: index + 1 });
    const key = Buffer.from(hex, 'hex');
    if (key.length < MIN_PSK_KEY_BYTES || key.length > MAX_PSK_KEY_BYTES) {
      throw new UsageError(`${where}: the key of ${username} has ${key.length} bytes, need ${MIN_PSK_KEY_BYTES} to ${MAX_PSK_KEY_BYTES}`, {
        path,
        line: index + 1,
      });
    }
    keys.set(username, key);
  });
  if (keys.size === 0) throw new UsageError(`Cannot read PSK file ${path}: it holds no username:hexkey line`, { path });
  return keys;
}

/** The key of `username` in a psktool file (the client's side). */
export function pskOf(path: string, username: string): Buffer {
  const key = readPskFile(path).get(username);
  if (key === undefined) throw new UsageError(`Cannot use PSK file ${path}: it has no key for user ${username}`, { path, username });
  return key;
}

/** Options of the server's `tls.TLSSocket`: the key is looked up by the identity the client sends. */
export function serverTlsOptions(keys: PskKeys): TlsOptions & { isServer: true } {
  return {
    isServer: true,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    ciphers: NBD_PSK_CIPHERS,
    dhparam: 'auto',
    // An unknown identity returns no key, and the handshake fails.
    pskCallback: (_socket, identity) => keys.get(identity) ?? null,
  };
}

/** The client's credentials: a username and its key. */
export interface NbdTlsCredentials {
  readonly username: string;
  readonly key: Buffer;
}

/** Options of the client's `tls.connect` over an existing socket. */
export function clientTlsOptions(credentials: NbdTlsCredentials): ConnectionOptions {
  return {
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    ciphers: NBD_PSK_CIPHERS,
    pskCallback: () => ({ identity: credentials.username, psk: credentials.key }),
    // With PSK there is no certificate: the shared key is what authenticates the server.
    checkServerIdentity: () => undefined,
  };
}
