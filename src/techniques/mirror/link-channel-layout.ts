/**
 * The shared-memory words between the owning thread and the link worker (cross-thread
 * words have named indices; native-layout/mirror-link-channel.md). Int32 words, host byte order,
 * touched only through Atomics. LINK_SLOTS requests may be in flight, one per slot, taken in turn
 * (request n in slot n mod LINK_SLOTS, counting from 0): the owning thread writes a slot's
 * descriptors and data, then its REQUEST_SEQ; the worker sends the requests in that order without
 * waiting for the answers of the ones before, and writes a slot's FAILED_MASK, then its DONE_SEQ,
 * once every addressed link has answered it. A slot is written again only once its DONE_SEQ says
 * its last request is served.
 */
import type { MirrorLinkMode } from '../../export/mirror-link-option.js';
import { LINK_BATCH_UNITS } from './mirror-limits.js';

/** Words of one slot, from the slot's first word (slot s starts at word s × CHANNEL_WORDS). */
export const CHANNEL_WORD = {
  /** The request's sequence number (1, 2, …, skipping 0), written last by the owning thread. */
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
/** Words of one slot. */
export const CHANNEL_WORDS = CHANNEL_WORD.DESCRIPTORS + LINK_BATCH_UNITS * DESCRIPTOR_WORDS;

/** The sequence number after `seq`: it wraps, and skips 0, which a slot never used holds. */
export function nextRequestSeq(seq: number): number {
  return (seq + 1) | 0 || 1;
}

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
