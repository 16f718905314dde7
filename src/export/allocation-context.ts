/**
 * The `base:allocation` context ("Metadata contexts" in proto.md) of snaptape's exports:
 * - a CKD volume's byte view is its track slots end to end; track t uses the first V[t] bytes of its
 *   slot (the size table), and every byte past V is zero and never written by a copy, so the tail
 *   of each slot is reported as a hole that reads as zeroes (HOLE|ZERO) and the used prefix as data;
 * - a tape served as a volume has the same shape, with each track's block length as its V;
 * - an FBA volume has no size table, and Node cannot ask the file system where its holes are, so
 *   its blocks are scanned: a 4 KiB granule of zeroes is ZERO (allocated or not), anything else
 *   data. A scan reads at most BLOCK_STATUS_SCAN_BYTES per request and answers that prefix.
 *
 * Invariant: an extent flagged ZERO reads as zeroes; data extents may hold zeroes too.
 */
import { BASE_ALLOCATION_CONTEXT, BLOCK_STATUS_SCAN_BYTES, NBD_STATE_HOLE, NBD_STATE_ZERO } from './nbd-constants.js';
import { pushExtent, unitExtents, type MetaContextExtent, type MetaContextSource } from './nbd-meta-context.js';
import { nonZeroExtent } from '../volume/track-size-table.js';
import type { Volume } from '../volume/volume.js';

/** Granule of the FBA zero scan: one page, eight blocks. */
const ZERO_SCAN_GRANULE_BYTES = 4096;

/** A slot-per-unit view whose unit u holds `usedBytesOf(u)` bytes of data and zeroes after them. */
export function usedPrefixAllocation(unitBytes: number, usedBytesOf: (unit: number) => number): MetaContextSource {
  return {
    name: BASE_ALLOCATION_CONTEXT,
    extents: (offsetBytes, lengthBytes, maxExtents) =>
      unitExtents(offsetBytes, lengthBytes, maxExtents, unitBytes, (unit) => {
        const used = Math.min(unitBytes, usedBytesOf(unit));
        return [
          { length: used, flags: 0 },
          { length: unitBytes - used, flags: NBD_STATE_HOLE | NBD_STATE_ZERO },
        ].filter((run) => run.length > 0);
      }),
  };
}

/** A byte view read in granules: all-zero granules are ZERO, the rest data; a bounded scan per call. */
export function zeroScanAllocation(sizeBytes: number, read: (offsetBytes: number, lengthBytes: number) => Buffer): MetaContextSource {
  return {
    name: BASE_ALLOCATION_CONTEXT,
    extents: (offsetBytes, lengthBytes, maxExtents) => {
      const end = Math.min(sizeBytes, offsetBytes + lengthBytes, offsetBytes + BLOCK_STATUS_SCAN_BYTES);
      const out: MetaContextExtent[] = [];
      // Bounded: each turn advances one granule (aligned), within the scan budget.
      for (let at = offsetBytes; at < end;) {
        const next = Math.min(end, (Math.floor(at / ZERO_SCAN_GRANULE_BYTES) + 1) * ZERO_SCAN_GRANULE_BYTES);
        const bytes = read(at, next - at);
        const zero = nonZeroExtent(bytes) === 0;
        const before = out.length;
        pushExtent(out, next - at, zero ? NBD_STATE_ZERO : 0);
        if (out.length > maxExtents) {
          out.length = before;
          break;
        }
        at = next;
      }
      return out;
    },
  };
}

/** `base:allocation` of a volume's byte view (see the module comment). */
export function volumeAllocation(volume: Volume): MetaContextSource {
  if (volume.geometry.kind === 'ckd') {
    const slotBytes = volume.backend.slotBytes;
    return usedPrefixAllocation(slotBytes, (track) => volume.trackSizes().get(track));
  }
  return zeroScanAllocation(volume.flatSizeBytes, (offsetBytes, lengthBytes) => volume.readFlat(offsetBytes, lengthBytes));
}
