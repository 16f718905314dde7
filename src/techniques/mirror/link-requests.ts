/**
 * How the link worker turns one channel request (its descriptors, link-channel-layout.ts) into NBD
 * requests. A descriptor is bytes from its unit's slot on and a zero tail after them.
 *
 * A sparse run of tracks (descriptors that lie end to end, two or more with a zero tail) goes as
 * one WRITE_ZEROES over the run, from the first zero tail on (`fills`), answered before anything
 * else of the request is sent, then each descriptor's bytes as a WRITE (`writes`): one request per
 * track and one per run, not two per track. The WRITEs overlap the fill, so they wait for its
 * answer: a server may run requests in flight in any order (NBD allows it). The secondary still
 * gets every byte of the primary (the fill zeros the run, then the used bytes land on it), and its
 * server writes the zeros only where its own tracks may hold non-zero bytes (Volume.zeroFlat), so
 * it stays sparse.
 *
 * A descriptor alone (not end to end with a neighbour), or a run with one zero tail at most, goes as
 * before: a WRITE of its bytes and a WRITE_ZEROES of its tail, none waiting for another (they do
 * not overlap), with no round trip added.
 *
 * Decision: on a secondary whose tracks already hold bytes (a resync), the fill zeros the pages of
 * the used bytes that the WRITEs then write again; on loopback that costs less than a request per
 * track (bench/RESULTS.md, section 7).
 *
 * Invariants:
 * - every byte a descriptor covers is in exactly one `writes` entry, or in a `fills` entry and
 *   then, for its bytes (not its zero tail), in one `writes` entry too;
 * - `fills` overlap neither each other nor any `writes` entry of a run that was not filled, and
 *   `writes` never overlap each other, so only a fill must be answered before the rest is sent;
 * - each fill is at most ZERO_FILL_CHUNK_BYTES (a server runs a WRITE_ZEROES of one chunk in flight).
 */
import { ZERO_FILL_CHUNK_BYTES } from '../../export/nbd-constants.js';

/** One descriptor as read from the channel. */
export interface LinkDescriptor {
  readonly unit: number;
  /** Where its bytes start in the slot's data. */
  readonly dataOffset: number;
  readonly dataLength: number;
  readonly zeroTail: number;
}

/** One NBD request: a WRITE of `length` bytes at `dataOffset` of the slot's data, or a WRITE_ZEROES. */
export interface LinkWrite {
  readonly kind: 'write' | 'zeroes';
  readonly offsetBytes: number;
  readonly length: number;
  /** For a WRITE: where its bytes are in the slot's data. */
  readonly dataOffset: number;
}

export interface LinkRequestPlan {
  /** Sent first, and answered, before `writes` are sent, when there are any. */
  readonly fills: readonly LinkWrite[];
  readonly writes: readonly LinkWrite[];
}

/** The NBD requests of one channel request, in the order they are sent (see the module comment). */
export function planLinkRequests(descriptors: readonly LinkDescriptor[], slotBytes: number): LinkRequestPlan {
  const fills: LinkWrite[] = [];
  const writes: LinkWrite[] = [];
  const start = (d: LinkDescriptor): number => d.unit * slotBytes;
  const end = (d: LinkDescriptor): number => d.unit * slotBytes + d.dataLength + d.zeroTail;
  // Bounded: each turn takes one run of descriptors that lie end to end (at least one).
  for (let first = 0; first < descriptors.length;) {
    let last = first;
    while (last + 1 < descriptors.length && start(descriptors[last + 1] as LinkDescriptor) === end(descriptors[last] as LinkDescriptor)) last++;
    const run = descriptors.slice(first, last + 1);
    const tails = run.filter((d) => d.zeroTail > 0);
    if (tails.length >= 2) {
      const head = tails[0] as LinkDescriptor;
      const runEnd = end(run[run.length - 1] as LinkDescriptor);
      // Bounded: each step zeros one chunk (the last may be shorter).
      for (let at = start(head) + head.dataLength; at < runEnd; at += ZERO_FILL_CHUNK_BYTES) {
        fills.push({ kind: 'zeroes', offsetBytes: at, length: Math.min(ZERO_FILL_CHUNK_BYTES, runEnd - at), dataOffset: 0 });
      }
      for (const d of run) if (d.dataLength > 0) writes.push({ kind: 'write', offsetBytes: start(d), length: d.dataLength, dataOffset: d.dataOffset });
    } else {
      for (const d of run) {
        if (d.dataLength > 0) writes.push({ kind: 'write', offsetBytes: start(d), length: d.dataLength, dataOffset: d.dataOffset });
        if (d.zeroTail > 0) writes.push({ kind: 'zeroes', offsetBytes: start(d) + d.dataLength, length: d.zeroTail, dataOffset: 0 });
      }
    }
    first = last + 1;
  }
  return { fills, writes };
}
