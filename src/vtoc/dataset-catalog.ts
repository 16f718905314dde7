/**
 * Catalogues on a volume data sets whose tracks were copied onto it from another volume of the same
 * geometry (an extent-mode clone): each gets the source's Format-1 (with this volume's volser) and
 * Format-3s, at the extents `placeCopies` chose, written by the allocator's DSCB writer, and the
 * Format-4 and Format-5 are brought up to date as after an allocation.
 *
 * `placeCopies` chooses where each data set goes, writing nothing: where it is on the source when
 * those tracks are free here (and so byte for byte the same tracks), else the first free tracks, as
 * `alloc` picks them (first fit, whole cylinders for a data set of cylinder extents, up to 16
 * extents), clear of the tracks the other data sets of the copy take. The data sets that can keep
 * their place are placed first, so a moved one never takes another's place.
 *
 * `checkCatalogCopies` writes nothing and throws what `catalogCopies` would: the volume must have a
 * VTOC; a data set of the same name with other extents is a clash (DatasetError); the extents must
 * be free here, clear of track 0, the VTOC and every other data set (NoSpaceError), and the VTOC
 * must have a free DSCB for each Format-1 and Format-3 (NoSpaceError). A data set already here with
 * the same name and the same extents (an earlier copy of it) is not a clash: its DSCBs are
 * rewritten in place, so a copy made again, or a catalogue interrupted and made again, is the same.
 */
import { DatasetError, NoSpaceError } from '../errors/snaptape-error.js';
import type { Cchhr } from '../geometry/cchh.js';
import type { Volume } from '../volume/volume.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import { firstFitRuns, format3sFor, MAX_EXTENTS_PER_VOLUME, writeDatasetDscbs, type DscbPlaces } from './dataset-allocator.js';
import { datasetTrackIndexes } from './dataset-tracks.js';
import { guardDatasetWrites } from './dataset-write-guard.js';
import { dscbFormatId } from './dscb-codec.js';
import { DSCB_FORMAT } from './dscb-layouts.js';
import { EXTENT_TYPE, extentFromRun, extentRun, type Extent, type TrackRun } from './extent.js';
import { freeCylinderRuns, freeRuns, usedTrackMap } from './free-space.js';
import { tracksText } from './extent-overlap.js';
import { readVtoc, type DatasetEntry, type VtocView } from './vtoc-reader.js';
import { refreshVtocSummary } from './vtoc-writer.js';

function sameExtents(a: readonly Extent[], b: readonly Extent[]): boolean {
  const key = (e: Extent): string => `${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}`;
  return a.length === b.length && a.every((e, i) => key(e) === key(b[i] as Extent));
}

/** Who holds track `t` of the volume, in words. */
function holderOf(volume: Volume, view: VtocView, t: number): string | undefined {
  if (t === 0) return 'track 0 (the volume label)';
  if (t >= view.vtocRun.firstTrack && t < view.vtocRun.firstTrack + view.vtocRun.trackCount) return 'the VTOC';
  for (const d of view.datasets) {
    for (const e of d.extents) {
      const run = extentRun(volume.ckd, e);
      if (t >= run.firstTrack && t < run.firstTrack + run.trackCount) return `data set ${d.name}`;
    }
  }
  return undefined;
}

/**
 * A data set's extents here when its tracks, in its logical order, go to `tracks`: its own extents
 * when those are the same tracks; else one extent per run of consecutive tracks, each
 * cylinder-bounded when its own extents all were and the run is whole cylinders.
 */
export function copiedExtents(geometry: CkdGeometry, entry: DatasetEntry, tracks: readonly number[]): Extent[] {
  const own = datasetTrackIndexes(geometry, entry);
  if (own.length === tracks.length && own.every((t, i) => t === tracks[i])) return [...entry.extents];
  const runs: TrackRun[] = [];
  for (const t of tracks) {
    const last = runs[runs.length - 1];
    if (last && last.firstTrack + last.trackCount === t) runs[runs.length - 1] = { firstTrack: last.firstTrack, trackCount: last.trackCount + 1 };
    else runs.push({ firstTrack: t, trackCount: 1 });
  }
  const cylinders =
    entry.extents.every((e) => e.type === EXTENT_TYPE.cylinderBoundary) &&
    runs.every((r) => r.firstTrack % geometry.heads === 0 && r.trackCount % geometry.heads === 0);
  return runs.map((r, i) => extentFromRun(geometry, r, i, cylinders ? EXTENT_TYPE.cylinderBoundary : EXTENT_TYPE.data));
}

/** Tracks of `runs`, in order. */
function tracksOfRuns(runs: readonly TrackRun[]): number[] {
  const out: number[] = [];
  for (const r of runs) for (let t = r.firstTrack; t < r.firstTrack + r.trackCount; t++) out.push(t);
  return out;
}

/**
 * Where each of `entries` (data sets of another volume of this geometry) goes on this volume, as
 * the track each of its tracks goes to, in its logical order. Writes nothing; throws a DatasetError
 * for a name clash and a NoSpaceError, naming the data set and the volume, when it has no room.
 */
export function placeCopies(volume: Volume, entries: readonly DatasetEntry[], action: string): number[][] {
  const geometry = volume.ckd;
  const view = readVtoc(volume);
  const volser = view.label.volser;
  const earlier = earlierCopies(volume, view, entries, action);
  // An earlier copy's own tracks are free for it.
  const used = usedTrackMap(geometry, { ...view, datasets: view.datasets.filter((d) => !earlier.has(d.name)) });
  const placed: (number[] | undefined)[] = entries.map((entry) => {
    const own = datasetTrackIndexes(geometry, entry);
    if (!own.every((t) => t < used.length && used[t] === 0)) return undefined;
    for (const t of own) used[t] = 1;
    return own;
  });
  return entries.map((entry, i) => {
    const kept = placed[i];
    if (kept) return kept;
    const tracks = datasetTrackIndexes(geometry, entry).length;
    const cylinders = entry.extents.every((e) => e.type === EXTENT_TYPE.cylinderBoundary) && tracks % geometry.heads === 0;
    const free = cylinders ? freeCylinderRuns(geometry, used) : freeRuns(used);
    const runs = firstFitRuns(free, tracks);
    if (!runs) {
      const total = free.reduce((n, r) => n + r.trackCount, 0);
      throw new NoSpaceError(
        `Cannot ${action} data set ${entry.name} onto ${volume.path} (${volser}): it needs ${tracks} tracks and ${total} are free there${cylinders ? ' in whole cylinders' : ''} (in ${free.length} extents; a data set may have at most ${MAX_EXTENTS_PER_VOLUME}), after the tracks of the data sets placed before it`,
        { path: volume.path, dsname: entry.name, tracks, freeTracks: total },
      );
    }
    const moved = tracksOfRuns(runs);
    for (const t of moved) used[t] = 1;
    return moved;
  });
}

/**
 * The entries an earlier copy already catalogued here: a data set of the same name with the same
 * extents (its own tracks are free for it). The same name with other extents is a clash, refused.
 */
function earlierCopies(volume: Volume, view: VtocView, entries: readonly DatasetEntry[], action: string): Map<string, DatasetEntry> {
  const earlier = new Map<string, DatasetEntry>();
  for (const entry of entries) {
    const here = view.datasets.find((d) => d.name === entry.name);
    if (!here) continue;
    if (!sameExtents(here.extents, entry.extents)) {
      throw new DatasetError(
        `Cannot ${action} data set ${entry.name} onto ${volume.path} (${view.label.volser}): a data set of that name is there, with other extents`,
        {
          path: volume.path,
          dsname: entry.name,
        },
      );
    }
    earlier.set(entry.name, here);
  }
  return earlier;
}

interface CataloguePlan {
  readonly view: VtocView;
  /** Per entry: the DSCB places to write (its own, when an earlier copy is here, else free ones). */
  readonly places: readonly DscbPlaces[];
}

function planCatalogue(volume: Volume, entries: readonly DatasetEntry[], action: string): CataloguePlan {
  const view = readVtoc(volume);
  const volser = view.label.volser;
  const earlier = earlierCopies(volume, view, entries, action);
  // The extents must be free here (an earlier copy's own extents are).
  const others = { ...view, datasets: view.datasets.filter((d) => !earlier.has(d.name)) };
  for (const entry of entries) {
    for (const e of entry.extents) {
      const run = extentRun(volume.ckd, e);
      for (let t = run.firstTrack; t < run.firstTrack + run.trackCount; t++) {
        const holder = holderOf(volume, others, t);
        if (holder === undefined) continue;
        throw new NoSpaceError(
          `Cannot ${action} data set ${entry.name} onto ${volume.path} (${volser}): its extent ${e.sequence} (${tracksText(run)}) is not free there: ${holder} holds track ${t}`,
          { path: volume.path, dsname: entry.name, track: t },
        );
      }
    }
  }
  // The check every data set write makes (the extents lie on the volume, and clear of each other).
  guardDatasetWrites(
    volume,
    view,
    entries.map((d) => ({ dsname: d.name, extents: d.extents })),
    action,
  );
  const free = view.slots.filter((s) => dscbFormatId(s.dscb) === DSCB_FORMAT.empty).map((s) => s.address);
  const needed = entries.filter((d) => !earlier.has(d.name)).reduce((n, d) => n + 1 + format3sFor(d.extents.length), 0);
  if (free.length < needed) {
    throw new NoSpaceError(
      `Cannot ${action} ${entries.map((d) => d.name).join(', ')} onto ${volume.path} (${volser}): its VTOC has ${free.length} free DSCBs and needs ${needed}`,
      {
        path: volume.path,
      },
    );
  }
  let next = 0;
  const take = (n: number): Cchhr[] => free.slice(next, (next += n));
  const places = entries.map((entry): DscbPlaces => {
    const here = earlier.get(entry.name);
    if (here && here.format3Addresses.length === format3sFor(entry.extents.length)) return { format1: here.format1Address, format3s: here.format3Addresses };
    if (here) return { format1: here.format1Address, format3s: take(format3sFor(entry.extents.length)) };
    const [format1, ...format3s] = take(1 + format3sFor(entry.extents.length));
    return { format1: format1 as Cchhr, format3s };
  });
  return { view, places };
}

/** Throws the typed error that `catalogCopies` would (no VTOC, a name clash, no room); writes nothing. */
export function checkCatalogCopies(volume: Volume, entries: readonly DatasetEntry[], action: string): void {
  planCatalogue(volume, entries, action);
}

/**
 * Writes the DSCBs of `entries` (read from the source's VTOC) into this volume's VTOC at the same
 * extents, with this volume's volser, and refreshes the Format-4 and Format-5. Checks first, as
 * `checkCatalogCopies` does, so a refused catalogue writes nothing.
 */
export function catalogCopies(volume: Volume, entries: readonly DatasetEntry[], action: string): void {
  const { view, places } = planCatalogue(volume, entries, action);
  entries.forEach((entry, i) => {
    writeDatasetDscbs(volume, places[i] as DscbPlaces, { ...entry.format1, volser: view.label.volser }, entry.extents);
  });
  refreshVtocSummary(volume);
}
