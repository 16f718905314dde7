/**
 * The track-map model against a shadow (issue 12, item 1): random slot states and host writes on a
 * small CKD geometry, sampled with `sampleTrackMap`, compared with codes computed from plain arrays;
 * and the SVG renderer's cell count and colours. The seed is printed and replays a failure.
 */
import { describe, expect, it } from 'vitest';
import { TrackStateArray, UNIT_STATE } from '../../src/engine/track-state.js';
import { ckdGeometry } from '../../src/geometry/volume-geometry.js';
import { FAMILY_3390 } from '../../src/geometry/device-types.js';
import { HostWriteRecorder } from '../../src/session/host-write-recorder.js';
import { TRACK_LEGEND } from '../../src/live/track-map.js';
import { countCodes } from '../../src/session/session-view.js';
import { sampleTrackMap } from '../../src/techniques/tape-backup/backup-track-map.js';
import { renderTrackMapSvg } from '../../src/live/track-map-svg.js';
import { Prng } from '../../src/base/prng.js';

const SEED = Number(process.env['TRACK_MAP_SEED'] ?? 20261122);

describe('track map model', () => {
  it(`matches a shadow model of slot states and host writes (seed ${SEED})`, () => {
    const prng = new Prng(SEED);
    const geometry = ckdGeometry(FAMILY_3390, 7);
    const units = geometry.trackCount;
    // Every third track is outside the session (a data-set backup).
    const unitToSlot = new Int32Array(units).fill(-1);
    let slots = 0;
    for (let u = 0; u < units; u++) if (u % 3 !== 0) unitToSlot[u] = slots++;
    const states = TrackStateArray.create(slots);
    for (let s = 0; s < slots; s++) states.include(s);
    const shadow: string[] = Array.from({ length: units }, (_, u) => ((unitToSlot[u] as number) < 0 ? 'x' : 'p'));
    const written = new Set<number>();
    const recorder = new HostWriteRecorder(units);
    for (let step = 0; step < 400; step++) {
      const u = prng.below(units);
      const slot = unitToSlot[u] as number;
      if (prng.below(2) === 0) {
        recorder.record({ firstUnit: u, unitCount: 1 });
        written.add(u);
      }
      if (slot >= 0 && states.tryClaim(slot)) {
        const outOfOrder = prng.below(3) === 0;
        states.complete(slot, outOfOrder, 100);
        shadow[u] = outOfOrder ? 'o' : 'i';
      }
    }
    const map = sampleTrackMap({ geometry, states, unitToSlot, hostWritten: recorder.hostWritten, hostWrites: recorder.hostWrites });
    const expected = shadow.map((c, u) => (written.has(u) ? c.toUpperCase() : c)).join('');
    expect(map.codes).toBe(expected);
    expect(map).toMatchObject({ unitKind: 'track', unitCount: units, columns: 7, rows: geometry.heads, hostWrittenUnits: written.size });
    const c = states.counters();
    expect(map.counts.copiedInOrder).toBe(c.copiedInOrder);
    expect(map.counts.copiedOutOfOrder).toBe(c.copiedOutOfOrder);
    expect(map.counts.pending + map.counts.copiedInOrder + map.counts.copiedOutOfOrder).toBe(slots);
    expect(map.counts.notInSession).toBe(units - slots);
    expect(countCodes(map.codes)).toEqual(map.counts);

    const svg = renderTrackMapSvg(map);
    expect([...svg.matchAll(/<rect class="cell"/g)].length).toBe(units);
    expect([...svg.matchAll(/<rect class="hw"/g)].length).toBe(written.size);
    for (const entry of TRACK_LEGEND) {
      expect([...svg.matchAll(new RegExp(`<rect class="cell"[^>]*fill="${entry.colour}"`, 'g'))].length, entry.name).toBe(map.counts[entry.name]);
    }
  });

  it('a claimed slot is drawn pending, an excluded one as not in the session', () => {
    const geometry = ckdGeometry(FAMILY_3390, 1);
    const states = TrackStateArray.create(2);
    states.include(0);
    expect(states.tryClaim(0)).toBe(true);
    const unitToSlot = new Int32Array(geometry.trackCount).fill(-1);
    unitToSlot[0] = 0;
    unitToSlot[1] = 1;
    const map = sampleTrackMap({ geometry, states, unitToSlot, hostWritten: new Uint8Array(geometry.trackCount), hostWrites: 0 });
    expect(map.codes.slice(0, 3)).toBe('pxx');
    expect(UNIT_STATE.EXCLUDED).toBe(4);
  });
});
