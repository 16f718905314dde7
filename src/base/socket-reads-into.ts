/**
 * Reads of an accepted server connection into memory the caller gives (Node's `onread` option),
 * where Node offers that only to the sockets it makes for a client: every read of an accepted one
 * lands in a fresh ArrayBuffer.
 *
 * How: the server accepts with `pauseOnConnect`, so Node's socket for the connection has read
 * nothing; a second `net.Socket` is made over the same libuv handle with `onread`, as Node itself
 * makes the accepted one (lib/net.js `onconnection`: `new Socket({ handle, ... })`). From then on
 * every read, write and close goes through the second socket. The first one stays with the server
 * for its count of connections, and is destroyed when the second one closes (the handle is closed
 * already then: only the count goes down, and `server.close()` can complete).
 *
 * The `handle` option and the `_handle` field are Node's, not documented. Node 20's lib/net.js
 * has both as described; `readsInto` checks what it relies on and returns undefined where anything
 * differs (the caller then reads the accepted socket as usual, `resume()`d), and
 * test/export/socket-reads-into.test.ts fails on a Node where this path is no longer taken.
 * Should a Node take the handle but ignore `onread`, its reads come as 'data' events: the caller
 * listens for those too.
 */
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';

/** Where an adopted socket's reads go. */
export interface ReadTarget {
  /** The memory the next read lands in (it must stay unused by anyone else until the next call). */
  room(): Buffer;
  /** `length` bytes were read into `into`, the last `room()`. */
  landed(length: number, into: Uint8Array): void;
}

interface StreamHandle {
  readonly readStart: unknown;
  readonly readStop: unknown;
  readonly useUserBuffer: unknown;
}

function isStreamHandle(value: unknown): value is StreamHandle {
  if (typeof value !== 'object' || value === null) return false;
  const handle = value as StreamHandle;
  return typeof handle.readStart === 'function' && typeof handle.readStop === 'function' && typeof handle.useUserBuffer === 'function';
}

/**
 * A socket over `accepted`'s connection that reads into `target`, or undefined where this Node
 * does not allow it. `accepted` must come from a server with `pauseOnConnect`, untouched.
 */
export function readsInto(accepted: Socket, target: ReadTarget, options: { readonly allowHalfOpen: boolean }): Socket | undefined {
  if (accepted.readableFlowing !== false || accepted.bytesRead !== 0 || accepted.destroyed) return undefined;
  const handle: unknown = (accepted as unknown as { readonly _handle?: unknown })._handle;
  if (!isStreamHandle(handle)) return undefined;
  const onread: OnReadOpts = {
    buffer: () => target.room(),
    callback: (length, into) => {
      target.landed(length, into);
      return true;
    },
  };
  // Node's own options for a socket over a handle (`handle`) and for reads into given memory (`onread`).
  const socketOptions: SocketConstructorOpts & { readonly handle: StreamHandle; readonly onread: OnReadOpts } = {
    handle,
    onread,
    allowHalfOpen: options.allowHalfOpen,
    readable: true,
    writable: true,
  };
  let adopted: Socket;
  try {
    adopted = new Socket(socketOptions);
  } catch {
    // The handle may be half taken: the connection cannot be served, and ends.
    accepted.destroy();
    return undefined;
  }
  // The accepted socket reads nothing and writes nothing: it fails on nothing of its own.
  accepted.on('error', () => undefined);
  adopted.once('close', () => accepted.destroy());
  return adopted;
}
