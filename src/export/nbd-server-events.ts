/**
 * The events an NbdServer reports. This layer does not log; the serve command (or a test)
 * subscribes and decides what to print. Events are plain data plus, for failures, the error.
 */
import type { NbdProtocolError } from '../errors/snaptape-error.js';

export type NbdServerEvent =
  | { readonly kind: 'connection-opened'; readonly connectionId: number; readonly remoteAddress: string }
  | { readonly kind: 'connection-refused'; readonly remoteAddress: string; readonly reason: string }
  | { readonly kind: 'export-selected'; readonly connectionId: number; readonly exportName: string }
  /** The client asked for an export it was refused: none of that name, held (a split secondary), or a mirror link the export refused. */
  | { readonly kind: 'export-refused'; readonly connectionId: number; readonly exportName: string; readonly reason: string }
  | { readonly kind: 'protocol-error'; readonly connectionId: number; readonly error: NbdProtocolError }
  | {
      readonly kind: 'backend-error';
      readonly connectionId: number;
      readonly exportName: string;
      readonly command: number;
      readonly errno: number;
      readonly error: unknown;
      /** True when the backend threw something that is not a SnaptapeError (a bug); the connection is then dropped. */
      readonly internal: boolean;
    }
  | {
      readonly kind: 'request-refused';
      readonly connectionId: number;
      readonly exportName: string;
      readonly command: number;
      readonly errno: number;
      /** Why the server refused it without running it on the backend (read-only, out of range, ...). */
      readonly reason: string;
    }
  | { readonly kind: 'connection-closed'; readonly connectionId: number; readonly reason: string };

export type NbdServerEventListener = (event: NbdServerEvent) => void;
