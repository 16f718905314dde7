/**
 * An extent-mode clone catalogues its data sets on the destination, so that an application (and
 * `ls`, `get`, Hercules `dasdls` and `dasdseq`) finds them there.
 *
 * - At CREATE, before anything is made: each chosen data set gets its place on the destination
 *   (vtoc/dataset-catalog.ts `placeCopies`): the same tracks as on the source when they are free
 *   there, else the first free tracks (first fit, as `alloc`); the destination must have a VTOC, no
 *   other data set of the same name, and free DSCBs. The clone's `targetUnits` then sends each
 *   source track to its place; the engine rewrites a moved track's CCHH on the way.
 * - At ACTIVATE, before the point in time is taken: the source's Format-1s as they are now (the
 *   host may have written the data sets meanwhile, and so their last-used pointers) are written to
 *   the destination's VTOC, with the extents of their places there. A data set whose extents changed
 *   since CREATE is refused: its new tracks are not part of the copy.
 */
import { SessionError } from '../../errors/snaptape-error.js';
import { catalogCopies, checkCatalogCopies, copiedExtents, placeCopies } from '../../vtoc/dataset-catalog.js';
import { datasetTrackIndexes } from '../../vtoc/dataset-tracks.js';
import { readVtoc, type DatasetEntry } from '../../vtoc/vtoc-reader.js';
import type { Volume } from '../../volume/volume.js';
import type { CloneExtent } from './clone-extents.js';

const ACTION = 'clone';

/** The chosen data sets as the source's VTOC has them now (none for a whole-volume clone). */
function sourceEntries(source: Volume, extent: CloneExtent, session: string): DatasetEntry[] {
  if (extent.datasets.length === 0) return [];
  const view = readVtoc(source);
  return extent.datasets.map((name) => {
    const entry = view.datasets.find((d) => d.name === name);
    if (!entry) throw new SessionError(`Cannot activate clone session ${session}: data set ${name} is no longer on ${source.path}`, { session, dsname: name });
    return entry;
  });
}

/**
 * At CREATE: places the chosen data sets on the destination and returns the extent with each
 * unit's destination track. Refuses (and writes nothing) a destination that cannot take them: no
 * VTOC, a name clash, no room, no free DSCBs.
 */
export function placeCloneCatalog(source: Volume, target: Volume, extent: CloneExtent, session: string): CloneExtent {
  if (extent.datasets.length === 0) return extent;
  const entries = sourceEntries(source, extent, session);
  const places = placeCopies(target, entries, ACTION);
  const targetUnits = extent.targetUnits.slice();
  const placed = entries.map((entry, i) => {
    const to = places[i] as number[];
    datasetTrackIndexes(source.ckd, entry).forEach((t, j) => (targetUnits[t] = to[j] as number));
    return { ...entry, extents: copiedExtents(target.ckd, entry, to) };
  });
  checkCatalogCopies(target, placed, ACTION);
  return { ...extent, targetUnits };
}

/**
 * At ACTIVATE: writes the destination's VTOC entries of the chosen data sets, from the source's
 * VTOC now, at their places on the destination. Throws (and writes nothing) when a data set moved
 * or grew since CREATE, or the destination can no longer take it.
 */
export function catalogCloneAtActivate(source: Volume, target: Volume, extent: CloneExtent, session: string): void {
  if (extent.datasets.length === 0) return;
  const entries = sourceEntries(source, extent, session);
  const tracks = new Set<number>();
  const placed = entries.map((entry) => {
    const own = datasetTrackIndexes(source.ckd, entry);
    for (const t of own) {
      if (extent.included[t] !== 1) {
        throw new SessionError(
          `Cannot activate clone session ${session}: data set ${entry.name} on ${source.path} has track ${t}, which it had not at CREATE (its extents changed); cancel the session and create a new one`,
          { session, dsname: entry.name, track: t },
        );
      }
      tracks.add(t);
    }
    return {
      ...entry,
      extents: copiedExtents(
        target.ckd,
        entry,
        own.map((t) => extent.targetUnits[t] as number),
      ),
    };
  });
  if (tracks.size !== extent.includedCount) {
    throw new SessionError(
      `Cannot activate clone session ${session}: the data sets ${extent.datasets.join(', ')} on ${source.path} now have ${tracks.size} tracks, not the ${extent.includedCount} of CREATE (their extents changed); cancel the session and create a new one`,
      { session },
    );
  }
  catalogCopies(target, placed, ACTION);
}
