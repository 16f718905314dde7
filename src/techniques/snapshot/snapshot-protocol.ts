/**
 * Technique 2, instant snapshot by track pointers, as the host drives it (issue 6):
 *   define  — locate the source and its extents, locate or allocate the target, give a token;
 *   execute — copy the pointers (target entry := source entry, counts +1), then update the
 *             target's metadata (VOL1 volser and Format-1 volsers, or the copied data sets'
 *             Format-1s), give a polling token; optionally pin the result for a physical copy;
 *   status  — copying | complete (| failed) through the polling token.
 * The pointer copy costs one directory write and one count write, whatever the data: no track is
 * read or written. Later writes to either volume copy-on-write (mapped-volume-backend.ts).
 *
 * Both volumes are opened for writing by execute (volume locks and the pool lock), so the copy
 * happens between host writes; a volume another process has open is refused (LockedError). A
 * process that already holds both volumes open for writing (`snaptape serve`) lends them instead
 * (`held`): the protocol then neither opens nor closes them, and runs between two of its requests.
 */
import { isProcessAlive } from '../../image/image-lock.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { assert } from '../../base/assert.js';
import { encodeEbcdic } from '../../base/ebcdic.js';
import { SessionError, UsageError } from '../../errors/snaptape-error.js';
import { MappedVolumeBackend } from '../../subsystem/mapped-volume-backend.js';
import { subsystemDirOf } from '../../subsystem/mapped-volumes.js';
import { createMappedVolume, sizeTableOf } from '../../volume/mapped-volume.js';
import { createPin } from '../../subsystem/slot-pins.js';
import { ENTRY_FLAG_RELOCATED, UNALLOCATED_SLOT } from '../../subsystem/subsystem-layouts.js';
import { Volume } from '../../volume/volume.js';
import type { TrackSizeTable } from '../../volume/track-size-table.js';
import { openVolume } from '../../volume/open-volume.js';
import { checkVolser } from '../../vtoc/dataset-attributes.js';
import { encodeFormat1 } from '../../vtoc/dscb-codec.js';
import { encodeVol1, readVolumeLabel, VOL1_RECORD } from '../../vtoc/volume-label.js';
import { findDataset, readVtoc } from '../../vtoc/vtoc-reader.js';
import { writeDscb } from '../../vtoc/vtoc-writer.js';
import { checkSameSubsystem, fingerprintOf, locateSource, locateTargetDatasets, tracksOf } from './snapshot-locate.js';
import {
  formatToken,
  loadByPollingToken,
  loadRecord,
  newId,
  parseToken,
  saveRecord,
  savePollingLink,
  transition,
  TOKEN_TTL_MS,
  type DatasetPair,
  type PhysicalCopyPacing,
  type TokenRecord,
  type TokenState,
} from './snapshot-tokens.js';

export interface DefineOptions {
  readonly datasets?: readonly string[];
  readonly volser?: string;
  /** Both volumes, already open for writing in this process (the server's); lent, not closed. */
  readonly held?: HeldVolumes;
}

export interface HeldVolumes {
  readonly source: Volume;
  readonly target: Volume;
}

/** A volume to use: the held one (never closed here) or one opened now (closed by `release`). */
interface UsedVolume {
  readonly volume: Volume;
  release(): void;
}

function useVolume(path: string, held: Volume | undefined, options: { readOnly: boolean }): UsedVolume {
  if (held === undefined) {
    const volume = openVolume(path, options);
    return { volume, release: () => volume.close() };
  }
  assert(resolve(held.path) === path, 'a held volume is the one the token names');
  return { volume: held, release: () => undefined };
}

/** The mapped backend of a held volume, which must be open for writing. */
function heldBackend(volume: Volume): MappedVolumeBackend {
  const backend = volume.imageBackend;
  if (!(backend instanceof MappedVolumeBackend)) throw new UsageError(`Cannot snapshot ${volume.path}: it is not a mapped volume`, { path: volume.path });
  if (backend.readOnly) throw new UsageError(`Cannot snapshot ${volume.path}: it is open read-only`, { path: volume.path });
  return backend;
}

export interface DefineResult {
  readonly token: string;
  readonly mode: 'volume' | 'datasets';
  readonly source: string;
  readonly target: string;
  readonly datasets: ReadonlyArray<{ readonly name: string; readonly tracks: number }>;
}

export interface ExecuteOptions {
  /** Write a standalone CKD image of the snapshot in the background (see physical-copy.ts). */
  readonly physical?: string;
  /** Pacing of the physical copy (only with `physical`). */
  readonly pacing?: PhysicalCopyPacing;
  /** Both volumes, already open for writing in this process (the server's); lent, not closed. */
  readonly held?: HeldVolumes;
}

export interface ExecuteResult {
  readonly token: string;
  readonly pollingToken: string;
  readonly state: TokenState;
  /** Target tracks whose pointers were copied. */
  readonly tracks: number;
  readonly ms: number;
}

export interface StatusResult {
  readonly pollingToken: string;
  readonly token: string;
  readonly state: TokenState;
  readonly mode: 'volume' | 'datasets';
  readonly source: string;
  readonly target: string;
  readonly volser: string | null;
  readonly physical: { readonly path: string; readonly tracksDone: number; readonly tracksTotal: number; readonly error: string | null } | null;
}

/** Defines a snapshot between mapped volumes of one subsystem (the whole volume, or data sets) and returns its token. Throws UsageError when the volumes are not in one subsystem or the options conflict. */
export function defineSnapshot(sourcePath: string, targetPath: string, options: DefineOptions = {}): DefineResult {
  const source = resolve(sourcePath);
  const target = resolve(targetPath);
  const datasetMode = (options.datasets?.length ?? 0) > 0;
  const dir = checkSameSubsystem(source, target, { targetMayBeNew: !datasetMode && options.held === undefined });
  const volser = options.volser !== undefined ? checkVolser(options.volser) : null;
  const sourceUse = useVolume(source, options.held?.source, { readOnly: true });
  const sourceVolume = sourceUse.volume;
  try {
    const located = locateSource(sourceVolume, options.datasets);
    let pairs: DatasetPair[] = [];
    let targetTracks: number;
    if (located.mode === 'volume') {
      const sourceVolser = readVolumeLabel(sourceVolume).volser;
      if (volser === null)
        throw new UsageError(`Cannot define a snapshot of ${source}: give the target a new --volser, so both volumes can be online at once`, { path: source });
      if (volser === sourceVolser)
        throw new UsageError(`Cannot define a snapshot of ${source} with --volser ${volser}: the source has that volser`, { path: source });
      const g = sourceVolume.ckd;
      if (!existsSync(target)) {
        // Allocate the target: a bare directory of the source's geometry, every track unallocated.
        createMappedVolume(target, { type: g.typeName, cylinders: g.cylinders, volser, bare: true });
        targetTracks = g.trackCount;
      } else {
        const targetUse = useVolume(target, options.held?.target, { readOnly: true });
        const targetVolume = targetUse.volume;
        try {
          const t = targetVolume.ckd;
          if (t.trackCount !== g.trackCount || t.family !== g.family) {
            throw new UsageError(
              `Cannot define a snapshot of ${source} to ${target}: the target is ${t.typeName} with ${t.trackCount} tracks, the source ${g.typeName} with ${g.trackCount}`,
              { path: target },
            );
          }
          targetTracks = t.trackCount;
        } finally {
          targetUse.release();
        }
      }
    } else {
      const targetUse = useVolume(target, options.held?.target, { readOnly: false });
      try {
        pairs = locateTargetDatasets(sourceVolume, targetUse.volume, located.datasets);
        targetTracks = targetUse.volume.ckd.trackCount;
      } finally {
        targetUse.release();
      }
    }
    const id = newId('S');
    const record: TokenRecord = {
      version: 1,
      id,
      dir,
      state: 'defined',
      createdMs: Date.now(),
      mode: located.mode,
      source,
      target,
      volser,
      pairs,
      fingerprint: fingerprintOf({ sourceTracks: sourceVolume.ckd.trackCount, targetTracks, pairs }),
      pollingId: null,
      executedMs: null,
      physical: null,
    };
    saveRecord(record);
    return { token: formatToken(id, dir), mode: located.mode, source, target, datasets: pairs.map((p) => ({ name: p.name, tracks: p.trackCount })) };
  } finally {
    sourceUse.release();
  }
}

/** Target entry := source entry for each (source, target) track pair; counts follow the pointers. */
function copyPointers(source: MappedVolumeBackend, target: MappedVolumeBackend, pairs: ReadonlyArray<readonly [number, number]> | 'all'): number {
  const pool = target.writablePool;
  assert(pool === source.writablePool, 'both volumes share one pool');
  const s = source.directory;
  const t = target.directory;
  const removed: Array<{ slot: number; extentBytes: number }> = [];
  const copyOne = (from: number, to: number): void => {
    const oldSlot = t.slots[to] as number;
    if (oldSlot !== UNALLOCATED_SLOT) removed.push({ slot: oldSlot, extentBytes: t.extents[to] as number });
    const slot = s.slots[from] as number;
    t.slots[to] = slot;
    t.extents[to] = s.extents[from] as number;
    // A track placed at another address reads relocated; one already relocated stays so.
    t.flags[to] = (s.flags[from] as number) | (from !== to && slot !== UNALLOCATED_SLOT ? ENTRY_FLAG_RELOCATED : 0);
  };
  let added: Uint32Array;
  if (pairs === 'all') {
    // Whole volume: same addresses, so entries are copied as they are (typed-array copies).
    for (let i = 0; i < t.slots.length; i++) {
      const oldSlot = t.slots[i] as number;
      if (oldSlot !== UNALLOCATED_SLOT) removed.push({ slot: oldSlot, extentBytes: t.extents[i] as number });
    }
    t.slots.set(s.slots);
    t.extents.set(s.extents);
    t.flags.set(s.flags);
    t.writeRange(0, s.geometry.trackCount);
    added = s.slots;
  } else {
    added = new Uint32Array(pairs.length);
    pairs.forEach(([from, to], i) => {
      copyOne(from, to);
      t.writeRange(to, 1);
      added[i] = s.slots[from] as number;
    });
  }
  // Pointers durable first, then the counts (ARCHITECTURE.md, mapped volumes); increments are
  // applied before decrements, so a slot moving within the target never touches zero.
  t.sync();
  pool.swapReferences(added, removed);
  target.markWritten();
  return pairs === 'all' ? s.geometry.trackCount : pairs.length;
}

/** The metadata step: the target's VOL1 and Format-1 volsers, or the copied data sets' Format-1s. */
function updateTargetMetadata(record: TokenRecord, source: Volume, target: Volume): void {
  if (record.mode === 'volume') {
    assert(record.volser !== null, 'a volume snapshot has a new volser');
    const label = readVolumeLabel(target);
    target.updateRecord({ cylinder: 0, head: 0, record: VOL1_RECORD }, encodeVol1({ ...label, volser: record.volser }), encodeEbcdic('VOL1'));
    for (const d of readVtoc(target).datasets) writeDscb(target, d.format1Address, encodeFormat1({ ...d.format1, volser: record.volser }));
    return;
  }
  const sourceView = readVtoc(source);
  for (const pair of record.pairs) {
    const from = findDataset(sourceView, pair.name);
    const to = findDataset(readVtoc(target), pair.name);
    if (!from || !to)
      throw new SessionError(`Cannot catalogue ${pair.name} on ${target.path}: the data set is gone from the ${from ? 'target' : 'source'}`, {
        dsname: pair.name,
      });
    // The target keeps its own extents, volser and Format-3 chain; the rest describes the copied data.
    writeDscb(
      target,
      to.format1Address,
      encodeFormat1({
        ...from.format1,
        dsname: to.format1.dsname,
        volser: to.format1.volser,
        extentCount: to.format1.extentCount,
        extents: to.format1.extents,
        format3Pointer: to.format1.format3Pointer,
        spaceAllocation: to.format1.spaceAllocation,
      }),
    );
  }
}

/** The physical copy's pacing, checked; a pacing without a physical copy would do nothing: refused. */
function checkPacing(options: ExecuteOptions, token: string): PhysicalCopyPacing | undefined {
  const pacing = options.pacing;
  if (pacing === undefined || Object.values(pacing).every((v) => v === undefined)) return undefined;
  const bad = (what: string): never => {
    throw new UsageError(`Cannot execute snapshot token ${token}: ${what}`, { token });
  };
  if (!options.physical) bad('pacing (pause-after, pause-ms, throttle-mbps) applies to a physical copy only; give --physical');
  for (const [name, value] of [
    ['pause-after', pacing.pauseAfter],
    ['pause-ms', pacing.pauseMs],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0)) bad(`${name} ${value} is not a whole number`);
  }
  if (pacing.throttleMbps !== undefined && !(Number.isFinite(pacing.throttleMbps) && pacing.throttleMbps > 0))
    bad(`a throttle of ${pacing.throttleMbps} MB/s is not a rate above 0`);
  return pacing;
}

/** Executes a defined snapshot: copies the track pointers, updates the target's metadata and returns a polling token. Throws UsageError or SessionError for an unknown token or one in the wrong state. */
export function executeSnapshot(token: string, options: ExecuteOptions = {}): ExecuteResult {
  const startedMs = performance.now();
  const { id, dir } = parseToken(token, 'S');
  const record = loadRecord(dir, id, token);
  const next = transition(record, options.physical ? 'execute-physical' : 'execute', token);
  const pacing = checkPacing(options, token);
  if (Date.now() - record.createdMs > TOKEN_TTL_MS) {
    throw new SessionError(
      `Cannot execute snapshot token ${token}: it is stale (defined ${Math.round((Date.now() - record.createdMs) / 1000)} s ago; a token lives ${TOKEN_TTL_MS / 1000} s); define the snapshot again`,
      { token },
    );
  }
  const opened = openForExecute(record, options.held);
  try {
    const { sourceBackend, targetBackend, source } = opened;
    if (options.held && options.held.target.interceptorNames().length > 0) {
      // The pointer copy bypasses the write path: a session watching the target would miss it.
      throw new SessionError(
        `Cannot execute snapshot token ${token}: sessions are active on the target ${record.target} (${options.held.target.interceptorNames().join(', ')})`,
        { token },
      );
    }
    // Staleness: the geometry and every pair's extents must be what define saw.
    const fingerprint = fingerprintOf({
      sourceTracks: sourceBackend.geometry.trackCount,
      targetTracks: targetBackend.geometry.trackCount,
      pairs: record.pairs,
    });
    if (fingerprint !== record.fingerprint || (record.mode === 'datasets' && !sameRuns(source, opened.target(), record.pairs))) {
      throw new SessionError(
        `Cannot execute snapshot token ${token}: it is stale (the source or target extents changed since define); define the snapshot again`,
        { token },
      );
    }
    const trackPairs =
      record.mode === 'volume'
        ? ('all' as const)
        : record.pairs.flatMap((p) => {
            const from = tracksOf(p.sourceRuns);
            const to = tracksOf(p.targetRuns);
            return from.map((f, i) => [f, to[i] as number] as const);
          });
    const tracks = copyPointers(sourceBackend, targetBackend, trackPairs);
    updateTargetMetadata(record, source, opened.target(sizeTableOf(targetBackend)));
    targetBackend.sync();
    const pollingId = newId('P');
    let physical = null;
    if (options.physical) {
      createPin(targetBackend.writablePool, targetBackend.directory, pollingId);
      physical = {
        path: resolve(options.physical),
        pinId: pollingId,
        pid: null,
        tracksDone: 0,
        tracksTotal: targetBackend.geometry.trackCount,
        error: null,
        ...(pacing ? { pacing } : {}),
      };
    }
    const executed: TokenRecord = { ...record, state: next, pollingId, executedMs: Date.now(), physical };
    savePollingLink(dir, pollingId, id);
    saveRecord(executed);
    return { token, pollingToken: formatToken(pollingId, dir), state: next, tracks, ms: performance.now() - startedMs };
  } finally {
    opened.release();
  }
}

interface ExecuteVolumes {
  readonly sourceBackend: MappedVolumeBackend;
  readonly targetBackend: MappedVolumeBackend;
  readonly source: Volume;
  /** The target as a Volume; `sizes` (after the pointer copy) replaces what it knew of its tracks. */
  target(sizes?: TrackSizeTable): Volume;
  release(): void;
}

function openForExecute(record: TokenRecord, held: HeldVolumes | undefined): ExecuteVolumes {
  if (held) {
    assert(resolve(held.source.path) === record.source && resolve(held.target.path) === record.target, 'the held volumes are the ones the token names');
    return {
      sourceBackend: heldBackend(held.source),
      targetBackend: heldBackend(held.target),
      source: held.source,
      target: (sizes) => {
        if (sizes) held.target.replaceTrackSizes(sizes);
        return held.target;
      },
      release: () => undefined,
    };
  }
  // One sync at the end, in the durability order (slots, then pointers, then counts), instead of
  // two per metadata copy-on-write: a crash before execute returns leaves the token unexecuted,
  // and the target is snapshotted again. The order of the writes themselves is unchanged.
  const bulk = { syncEachAllocation: false };
  const sourceBackend = MappedVolumeBackend.open(record.source, subsystemDirOf(record.source), bulk);
  try {
    const targetBackend = MappedVolumeBackend.open(record.target, subsystemDirOf(record.target), bulk);
    return {
      sourceBackend,
      targetBackend,
      source: new Volume(sourceBackend),
      target: (sizes) => new Volume(targetBackend, sizes),
      // The backends close directly: a Volume's close would save a size table that the next
      // writable open removes anyway (the directory's extents give the next one for free).
      release: () => {
        try {
          targetBackend.close();
        } finally {
          sourceBackend.close();
        }
      },
    };
  } catch (error) {
    sourceBackend.close();
    throw error;
  }
}

/** The extents of every pair are still where define found them. */
function sameRuns(source: Volume, target: Volume, pairs: readonly DatasetPair[]): boolean {
  const sv = readVtoc(source);
  const tv = readVtoc(target);
  return pairs.every((p) => {
    const s = findDataset(sv, p.name);
    const t = findDataset(tv, p.name);
    if (!s || !t) return false;
    const runs = (entry: typeof s, heads: number): string =>
      JSON.stringify(entry.extents.map((e) => [e.begin.cylinder * heads + e.begin.head, e.end.cylinder * heads + e.end.head]));
    const want = (rs: readonly { firstTrack: number; trackCount: number }[]): string =>
      JSON.stringify(rs.map((r) => [r.firstTrack, r.firstTrack + r.trackCount - 1]));
    return runs(s, source.ckd.heads) === want(p.sourceRuns) && runs(t, target.ckd.heads) === want(p.targetRuns);
  });
}

/** The state of a snapshot by its polling token: copying or complete (or failed, with the error). Throws UsageError or SessionError for an unknown token. */
export function snapshotStatus(pollingToken: string): StatusResult {
  const record = loadByPollingToken(pollingToken);
  let state = record.state;
  let error = record.physical?.error ?? null;
  // A copier that died without saying so has failed (its pin is released by `subsystem check`).
  if (state === 'copying' && record.physical?.pid != null && !isProcessAlive(record.physical.pid)) {
    state = 'failed';
    error = error ?? `the copying process ${record.physical.pid} ended before the image was complete`;
  }
  return {
    pollingToken,
    token: formatToken(record.id, record.dir),
    state,
    mode: record.mode,
    source: record.source,
    target: record.target,
    volser: record.volser,
    physical: record.physical ? { path: record.physical.path, tracksDone: record.physical.tracksDone, tracksTotal: record.physical.tracksTotal, error } : null,
  };
}
