/**
 * Metadata contexts ("Metadata querying" in proto.md): named views of an export that
 * NBD_CMD_BLOCK_STATUS answers with extents (a length and 32 status flags each). A context is a
 * `MetaContextSource`; an export offers the ones its backend lists, and a client selects some with
 * NBD_OPT_SET_META_CONTEXT. `base:allocation` (volume-allocation.ts) is the first; a dirty-track
 * context (`snaptape:dirty:<checkpoint>`, dirty-tracks-context.ts) plugs in the same way.
 *
 * Query syntax (the spec leaves it to the server): a full context name selects that context; a
 * namespace alone ("base:", "snaptape:dirty:") lists every context under it, for LIST only; a LIST
 * with no query lists every context of the export.
 *
 * Invariants: a source answers at least one extent for any non-empty range inside the export, never
 * more than `maxExtents`, each non-empty, together no longer than the range asked for.
 */
import { assert } from '../base/assert.js';
import { BLOCK_STATUS_MAX_UNITS } from './nbd-constants.js';

/** One extent of a context's answer: `length` bytes from where the previous one ended. */
export interface MetaContextExtent {
  readonly length: number;
  readonly flags: number;
}

export interface MetaContextSource {
  /** The context's full name, namespace first ("base:allocation"). */
  readonly name: string;
  /**
   * The extents of [offsetBytes, offsetBytes + lengthBytes), in order from offsetBytes. It may stop
   * short of the end (the client asks again from there), but answers at least one extent.
   */
  extents(offsetBytes: number, lengthBytes: number, maxExtents: number): MetaContextExtent[];
}

/** The namespace prefix of snaptape's own contexts. */
export const SNAPTAPE_DIRTY_NAMESPACE = 'snaptape:dirty:';

/** Whether `query` names a namespace only (ends with its colon), so it lists rather than selects. */
function isNamespaceQuery(query: string): boolean {
  return query.endsWith(':');
}

/**
 * The contexts a list of queries names, each once, in the order first named. With `listing`
 * (NBD_OPT_LIST_META_CONTEXT) no query means every context, and a namespace lists what is under it.
 */
export function matchContexts(available: readonly MetaContextSource[], queries: readonly string[], listing: boolean): MetaContextSource[] {
  if (listing && queries.length === 0) return [...available];
  const chosen: MetaContextSource[] = [];
  for (const query of queries) {
    for (const source of available) {
      const hit = listing && isNamespaceQuery(query) ? source.name.startsWith(query) : source.name === query;
      if (hit && !chosen.includes(source)) chosen.push(source);
    }
  }
  return chosen;
}

/** Appends an extent, merging it into the last one when the flags are the same. */
export function pushExtent(out: MetaContextExtent[], length: number, flags: number): void {
  if (length <= 0) return;
  const last = out[out.length - 1];
  if (last !== undefined && last.flags === flags) out[out.length - 1] = { length: last.length + length, flags };
  else out.push({ length, flags });
}

/**
 * Extents of a unit-structured view: each unit of `unitBytes` is split by `runsOf` into runs,
 * which are merged across unit boundaries, clipped to the range, and cut at `maxExtents` (a run that
 * would start one more extent is left for the next request) or after BLOCK_STATUS_MAX_UNITS units.
 */
export function unitExtents(
  offsetBytes: number,
  lengthBytes: number,
  maxExtents: number,
  unitBytes: number,
  runsOf: (unit: number) => readonly MetaContextExtent[],
): MetaContextExtent[] {
  assert(lengthBytes > 0 && maxExtents > 0, 'a block status range and extent budget are not empty');
  const end = offsetBytes + lengthBytes;
  const out: MetaContextExtent[] = [];
  const firstUnit = Math.floor(offsetBytes / unitBytes);
  // Bounded: each turn advances one unit, at most BLOCK_STATUS_MAX_UNITS, and stops once the budget is spent.
  for (let unit = firstUnit; unit * unitBytes < end && unit - firstUnit < BLOCK_STATUS_MAX_UNITS; unit++) {
    let at = unit * unitBytes;
    for (const run of runsOf(unit)) {
      const from = Math.max(at, offsetBytes);
      const to = Math.min(at + run.length, end);
      if (to > from) {
        const before = out.length;
        pushExtent(out, to - from, run.flags);
        // Over budget: drop the run just started, which the client asks for again.
        if (out.length > maxExtents) {
          out.length = before;
          return out;
        }
      }
      at += run.length;
    }
  }
  return out;
}
