/**
 * Spans of a slotted image file to write, widened to whole pages of the file: a write that covers
 * whole pages makes the kernel read none first (a partial page of an uncached file is read before
 * it is written). A sink that writes only the bytes of each slot that may differ (a mirror's local
 * secondary) and a zero fill that writes only where a track may hold data (Volume.zeroFlat) both
 * cut their writes this way.
 */

/** A page of an image file in the page cache. */
export const FILE_PAGE_BYTES = 4096;

/** A flat range of a volume, [start, end) in bytes. */
export interface FlatSpan {
  start: number;
  end: number;
}

/**
 * The spans that cover `pieces` (ascending, disjoint), each widened to whole pages of the file
 * (flat byte 0 lies at `fileOffset` in it; no widening where undefined: the volume is not one file)
 * but kept inside [lower, upper), pieces that then touch or overlap merged into one span.
 */
export function pageSpans(pieces: readonly FlatSpan[], fileOffset: number | undefined, lower: number, upper: number): FlatSpan[] {
  const spans: FlatSpan[] = [];
  for (const piece of pieces) {
    const start = fileOffset === undefined ? piece.start : Math.floor((fileOffset + piece.start) / FILE_PAGE_BYTES) * FILE_PAGE_BYTES - fileOffset;
    const end = fileOffset === undefined ? piece.end : Math.ceil((fileOffset + piece.end) / FILE_PAGE_BYTES) * FILE_PAGE_BYTES - fileOffset;
    const span = { start: Math.max(lower, start), end: Math.min(upper, end) };
    const previous = spans[spans.length - 1];
    if (previous !== undefined && span.start <= previous.end) previous.end = Math.max(previous.end, span.end);
    else spans.push(span);
  }
  return spans;
}
