/**
 * Layer: scenarios (issue 12, item 1 for clones and mirrors). The live track maps of a clone and
 * of a mirror, sampled in the same synchronous stretch as the session's own status, so their
 * counts must agree exactly; host writes are seeded (seed printed, SNAPTAPE_SEED replays it).
 * - clone with PRECOPY: tracks written after their precopy copy are drawn pending, then re-copied,
 *   and the counts equal `recopies`, `tracksLeft`, `indirect` and `precopied`; the map survives
 *   TERMINATE (IND stays);
 * - clone ACTIVE COPY from a CCKD source (its background copy runs on this thread, after a yield):
 *   writes right after ACTIVATE are copied on demand, drawn out of order, equal to `copiedOnDemand`;
 * - mirror: after a split the map has exactly the written tracks pending; after the resync none,
 *   each drawn as resent by the copy or, when a host write sent it first, out of order, equal to
 *   the resync's `copied` and `sentByWrites`;
 * - the SVG of each has one cell per track and the kind's own legend.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume } from '../../src/api/volume-api.js';
import { CopyPool } from '../../src/engine/copy-pool.js';
import { sampleCloneTrackMap } from '../../src/techniques/clone/clone-track-map.js';
import { defaultMapMirror, sampleMirrorTrackMap } from '../../src/techniques/mirror/mirror-track-map.js';
import { renderTrackMapSvg } from '../../src/live/track-map-svg.js';
import { TRACK_LABELS, countCodes, type TrackMapSnapshot } from '../../src/session/session-view.js';
import { CloneSession } from '../../src/techniques/clone/clone-session.js';
import { MirrorSession } from '../../src/techniques/mirror/mirror-session.js';
import { makeFilledVolume, Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';
import { makeBlankSecondary } from '../mirror/mirror-fixtures.js';

const SEED = Number(process.env['SNAPTAPE_SEED'] ?? 0x5e55);
/** Bounded waits: 20 ms steps, at most this many (the copies here take well under a second). */
const MAX_WAIT_STEPS = 1_000;

let pool: CopyPool;
let dir: TempDir;
beforeAll(() => {
  pool = new CopyPool(2);
  dir = makeTempDir('snaptape-session-maps-');
  console.log(`session maps: SNAPTAPE_SEED=${SEED}`);
});
afterAll(async () => {
  await pool.close();
  dir.cleanup();
});

async function waitUntil(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < MAX_WAIT_STEPS && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!done()) throw new Error(`${what} did not happen`);
}

/** `count` distinct tracks at or after `from`, chosen by the seeded PRNG. */
function distinctTracks(prng: Prng, count: number, from: number, end: number): number[] {
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(from + prng.below(end - from));
  return [...chosen].sort((a, b) => a - b);
}

/** Units whose code (any case) is `code`. */
function unitsWith(map: TrackMapSnapshot, code: string): number[] {
  return [...map.codes].flatMap((c, u) => (c.toLowerCase() === code ? [u] : []));
}

function expectSvgOfMap(map: TrackMapSnapshot): void {
  const svg = renderTrackMapSvg(map);
  expect([...svg.matchAll(/<rect class="cell"/g)].length).toBe(map.unitCount);
  for (const label of Object.values(TRACK_LABELS[map.kind])) expect(svg).toContain(label);
}

describe('clone track map', () => {
  it('shows tracks written during PRECOPY pending, then re-copied, with the clone status counts', async () => {
    const prng = new Prng(SEED);
    const source = makeFilledVolume(dir.path, { cylinders: 3, seed: SEED, name: 'clone-src.ckd' });
    const target = createVolume(join(dir.path, 'clone-dst.ckd'), { type: '3390', cylinders: 3, volser: 'DST001' });
    const tracks = source.ckd.trackCount;
    const session = CloneSession.create(source, target, { pool, precopy: true });
    try {
      await waitUntil('the first precopy pass', () => session.status().tracksLeft === 0);
      const first = sampleCloneTrackMap(session.mapView());
      expect(first).toMatchObject({ kind: 'clone', unitCount: tracks, hostWrittenUnits: 0 });
      expect(first.counts).toMatchObject({ pending: 0, copiedInOrder: tracks, recopied: 0, copiedOutOfOrder: 0 });

      // Host writes to copied tracks: each reopens its track (PRECOPY PB off, CLONE PB and IND on).
      const written = distinctTracks(prng, 8, 0, tracks);
      for (const t of written) randomHostWrite(source, t, prng);
      const reopened = sampleCloneTrackMap(session.mapView());
      const atReopen = session.status();
      expect(reopened.counts.pending).toBe(atReopen.tracksLeft);
      expect(reopened.counts.pending).toBe(atReopen.indirect);
      expect(unitsWith(reopened, 'p')).toEqual(written);
      expect(reopened.hostWrittenUnits).toBe(written.length);
      expect(reopened.counts.copiedInOrder).toBe(atReopen.precopied);

      await waitUntil('the re-copy of the written tracks', () => session.status().tracksLeft === 0);
      const recopied = sampleCloneTrackMap(session.mapView());
      const status = session.status();
      expect(status.recopies).toBe(written.length);
      expect(recopied.counts).toMatchObject({ pending: status.tracksLeft, recopied: status.recopies, copiedOutOfOrder: status.copiedOnDemand });
      expect(recopied.counts.copiedInOrder + recopied.counts.recopied).toBe(status.precopied);
      expect(unitsWith(recopied, 'r')).toEqual(written);
      // The written tracks carry the host-write overlay: upper case.
      for (const t of written) expect(recopied.codes[t]).toBe('R');
      expect(countCodes(recopied.codes)).toEqual(recopied.counts);
      expectSvgOfMap(recopied);

      session.activate();
      await session.whenCopied();
      session.terminate();
      // Released: the PB slot is cleared, the map (from IND and the states) is unchanged.
      const terminated = sampleCloneTrackMap(session.mapView());
      expect(terminated.codes).toBe(recopied.codes);
    } finally {
      source.close();
      target.close();
    }
  });

  it('draws tracks copied on demand after ACTIVATE out of order, as many as copiedOnDemand', async () => {
    const prng = new Prng(SEED + 1);
    const filled = makeFilledVolume(dir.path, { cylinders: 2, seed: SEED + 1, name: 'plain.ckd' });
    const source = createVolume(join(dir.path, 'demand.cckd'), { type: '3390', cylinders: 2, volser: 'CCKD01', format: 'cckd' });
    const target = createVolume(join(dir.path, 'demand-dst.ckd'), { type: '3390', cylinders: 2, volser: 'DST002' });
    const tracks = source.ckd.trackCount;
    for (let t = 0; t < tracks; t++) source.writeTrackImages(t, [filled.readTrackImage(t)]);
    filled.close();
    try {
      // A CCKD source is copied on this thread after a yield: nothing is copied before the writes below.
      const session = CloneSession.create(source, target, { pool, activate: true });
      const written = distinctTracks(prng, 5, 0, tracks);
      for (const t of written) randomHostWrite(source, t, prng);
      const map = sampleCloneTrackMap(session.mapView());
      const status = session.status();
      expect(status.copiedOnDemand).toBe(written.length);
      expect(map.counts).toMatchObject({ copiedOutOfOrder: status.copiedOnDemand, pending: status.tracksLeft, copiedInOrder: 0 });
      expect(unitsWith(map, 'o')).toEqual(written);
      for (const t of written) expect(map.codes[t]).toBe('O');

      await session.whenCopied();
      const copied = sampleCloneTrackMap(session.mapView());
      expect(copied.counts).toMatchObject({ pending: 0, copiedOutOfOrder: written.length, copiedInOrder: tracks - written.length, recopied: 0 });
      expect(copied.counts.copiedInOrder).toBe(session.status().copiedInBackground);
      session.terminate();
    } finally {
      source.close();
      target.close();
    }
  });
});

describe('mirror track map', () => {
  it('has the tracks written since the split pending, and none after the resync', async () => {
    const prng = new Prng(SEED + 2);
    const primary = makeFilledVolume(dir.path, { cylinders: 4, seed: SEED + 2, name: 'primary.ckd' });
    const secondaryPath = makeBlankSecondary(dir.path, 'secondary.ckd', 4);
    const tracks = primary.ckd.trackCount;
    const mirror = MirrorSession.create(primary, [secondaryPath]);
    try {
      await mirror.whenInSync();
      const initial = sampleMirrorTrackMap(mirror.mapView('M2'));
      expect(initial).toMatchObject({ kind: 'mirror', subject: 'M2', unitCount: tracks });
      expect(initial.counts).toMatchObject({ pending: 0, copiedInOrder: tracks });

      mirror.split('M2');
      expect(sampleMirrorTrackMap(mirror.mapView('M2')).counts).toMatchObject({ pending: 0, notInSession: tracks });
      const changed = distinctTracks(prng, 12, 0, tracks);
      for (const t of changed) randomHostWrite(primary, t, prng);
      expect(defaultMapMirror(mirror.status())).toBe('M2');
      const split = sampleMirrorTrackMap(mirror.mapView('M2'));
      expect(split.counts.pending).toBe(changed.length);
      expect(split.counts.pending).toBe(mirror.status().mirrors[0]?.invalidTracks);
      expect(unitsWith(split, 'p')).toEqual(changed);
      expect(split.hostWrittenUnits).toBe(changed.length);
      expectSvgOfMap(split);

      // Rejoin, and in the same synchronous stretch (before the first copy step) write two of the
      // changed tracks again: normal mirroring sends them, out of order.
      mirror.rejoin('M2');
      const rewritten = changed.slice(0, 2);
      for (const t of rewritten) randomHostWrite(primary, t, prng);
      const early = sampleMirrorTrackMap(mirror.mapView('M2'));
      expect(early.counts).toMatchObject({ pending: changed.length - rewritten.length, copiedOutOfOrder: rewritten.length, copiedInOrder: 0 });

      await mirror.whenInSync();
      const after = sampleMirrorTrackMap(mirror.mapView('M2'));
      const resync = mirror.status().mirrors[0]?.resync;
      expect(after.counts.pending).toBe(0);
      expect(after.counts.copiedInOrder).toBe(resync?.copied);
      expect(after.counts.copiedOutOfOrder).toBe(resync?.sentByWrites);
      expect(unitsWith(after, 'o')).toEqual(rewritten);
      expect(unitsWith(after, 'i')).toEqual(changed.slice(2));
      expect(after.counts.notInSession).toBe(tracks - changed.length);
      expect(() => mirror.mapView('M3')).toThrow(/Cannot find mirror M3/);
      await mirror.remove();
    } finally {
      primary.close();
    }
  });
});
