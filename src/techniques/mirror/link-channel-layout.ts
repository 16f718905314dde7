/**
 * The shared-memory words between the owning thread and the link worker (cross-thread
 * words have named indices; native-layout/mirror-link-channel.md). Int32 words, host byte order,
 * touched only through Atomics. One request at a time: the owning thread writes the descriptors and
 * the data, bumps REQUEST_SEQ and waits on DONE_SEQ; the worker writes FAILED_MASK, then DONE_SEQ.
 */
import type { MirrorLinkMode } from '../../export/mirror-link-option.js';
import { LINK_BATCH_UNITS } from './mirror-limits.js';

export const CHANNEL_WORD = {
  /** Bumped by the owning thread for each request. */
  REQUEST_SEQ: 0,
  /** Set by the worker to the request's sequence number once every link has answered or failed. */
  DONE_SEQ: 1,
  /** Links (bit i = link i) the request goes to. */
  LINK_MASK: 2,
  /** Descriptors in this request. */
  UNIT_COUNT: 3,
  /** Links (bit i) that failed or timed out on this request: their tracks stay behind. */
  FAILED_MASK: 4,
  /** Slot size: a unit u is written at u × SLOT_BYTES in the export. */
  SLOT_BYTES: 5,
  /** First descriptor word. */
  DESCRIPTORS: 8,
} as const;

/** Words of one descriptor: unit index, data offset in the data buffer, data length, zero tail length. */
export const DESCRIPTOR_WORDS = 4;
export const DESCRIPTOR_FIELD = { UNIT: 0, DATA_OFFSET: 1, DATA_LENGTH: 2, ZERO_TAIL: 3 } as const;
export const CHANNEL_WORDS = CHANNEL_WORD.DESCRIPTORS + LINK_BATCH_UNITS * DESCRIPTOR_WORDS;

/** Where a remote secondary's export is: TCP (with TLS-PSK when `tls` is given) or a unix socket. */
export type RemoteAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly exportName: string; readonly tls?: RemoteTls }
  | { readonly kind: 'unix'; readonly socketPath: string; readonly exportName: string };

/** The key is read from the psktool file at each connect, so it never travels in messages or records. */
export interface RemoteTls {
  readonly pskFile: string;
  readonly username: string;
}

/** Messages the owning thread posts to the worker. */
export type ToWorker =
  | { readonly kind: 'init'; readonly control: SharedArrayBuffer; readonly data: SharedArrayBuffer; readonly timeoutMs: number }
  /** `mode`: what the secondary is told (mirror-link-option.ts); `epoch` comes back in the answer. */
  | { readonly kind: 'connect'; readonly link: number; readonly address: RemoteAddress; readonly mode: MirrorLinkMode; readonly epoch: number }
  | { readonly kind: 'drop'; readonly link: number };

/** Messages the worker posts back. */
export type FromWorker =
  /** `splitWrites`: units the secondary recorded as written while it was split (a PROTECT connect). */
  | { readonly kind: 'up'; readonly link: number; readonly epoch: number; readonly sizeBytes: number; readonly splitWrites: readonly number[] }
  | {
      readonly kind: 'down';
      readonly link: number;
      readonly epoch: number;
      readonly reason: string;
      /** The secondary's server refused the link because it split the secondary for a backup (secondary-split.ts). */
      readonly heldBySecondary?: boolean;
    };
