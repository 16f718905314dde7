/**
 * An extent-mode clone catalogues its data sets on the destination, so that an application (and
 * `ls`, `get`, Hercules `dasdls` and `dasdseq`) finds them there. A clone copies each track to the
 * same track of a destination of the same geometry (a CKD track carries its own address in its
 * home address and count fields), so a data set's extents on the destination are its extents on
 * the source.
 *
 * - At CREATE, before anything is made: the destination must have a VTOC, no other data set of the
 *   same name, free tracks where the extents go and free DSCBs (vtoc/dataset-catalog.ts).
 * - At ACTIVATE, before the point in time is taken: the source's Format-1s as they are now (the
 *   host may have written the data sets meanwhile, and so their last-used pointers) are written to
 *   the destination's VTOC. A data set whose extents changed since CREATE is refused: its new
 *   tracks are not part of the copy.
 */
import { SessionError } from '../../errors/snaptape-error.js';
import { catalogCopies, checkCatalogCopies } from '../../vtoc/dataset-catalog.js';
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

/** At CREATE: refuses a destination that cannot catalogue the chosen data sets; writes nothing. */
export function checkCloneCatalog(source: Volume, target: Volume, extent: CloneExtent, session: string): void {
  if (extent.datasets.length === 0) return;
  checkCatalogCopies(target, sourceEntries(source, extent, session), ACTION);
}

/**
 * At ACTIVATE: writes the destination's VTOC entries of the chosen data sets, from the source's
 * VTOC now. Throws (and writes nothing) when a data set moved or grew since CREATE, or the
 * destination can no longer take it.
 */
export function catalogCloneAtActivate(source: Volume, target: Volume, extent: CloneExtent, session: string): void {
  if (extent.datasets.length === 0) return;
  const entries = sourceEntries(source, extent, session);
  const tracks = new Set<number>();
  for (const entry of entries) {
    for (const t of datasetTrackIndexes(source.ckd, entry)) {
      if (extent.included[t] !== 1) {
        throw new SessionError(
          `Cannot activate clone session ${session}: data set ${entry.name} on ${source.path} has track ${t}, which it had not at CREATE (its extents changed); cancel the session and create a new one`,
          { session, dsname: entry.name, track: t },
        );
      }
      tracks.add(t);
    }
  }
  if (tracks.size !== extent.includedCount) {
    throw new SessionError(
      `Cannot activate clone session ${session}: the data sets ${extent.datasets.join(', ')} on ${source.path} now have ${tracks.size} tracks, not the ${extent.includedCount} of CREATE (their extents changed); cancel the session and create a new one`,
      { session },
    );
  }
  catalogCopies(target, entries, ACTION);
}
