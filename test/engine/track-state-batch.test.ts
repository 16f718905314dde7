/**
 * Layer: unit. A batch's completion (TrackStateArray.completeAll), as the unit copy uses it: every
 * unit leaves CLAIMED, the counters add up once for the batch, and a unit the caller did not claim
 * is refused.
 */
import { describe, expect, it } from 'vitest';
import { TrackStateArray, UNIT_STATE } from '../../src/engine/track-state.js';

describe('TrackStateArray.completeAll', () => {
  it('completes each claimed unit and counts the batch once', () => {
    const states = TrackStateArray.create(10);
    for (let u = 0; u < 10; u++) states.include(u);
    const batch = [2, 3, 4, 7];
    for (const u of batch) expect(states.tryClaim(u)).toBe(true);
    states.completeAll(batch, false, 4 * 512);
    for (const u of batch) expect(states.state(u)).toBe(UNIT_STATE.COPIED);
    expect(states.state(5)).toBe(UNIT_STATE.PENDING);
    expect(states.counters()).toEqual({ copiedInOrder: 4, copiedOutOfOrder: 0, bytesInOrder: 2048, bytesOutOfOrder: 0 });
    expect(states.tryClaim(5)).toBe(true);
    states.completeAll([5], true, 100);
    expect(states.state(5)).toBe(UNIT_STATE.COPIED_OOO);
    expect(states.counters()).toMatchObject({ copiedOutOfOrder: 1, bytesOutOfOrder: 100 });
  });

  it('refuses a unit that was not claimed', () => {
    const states = TrackStateArray.create(4);
    for (let u = 0; u < 4; u++) states.include(u);
    expect(() => states.completeAll([1], false, 512)).toThrow(/unit 1 was claimed before completing \(was pending\)/);
  });
});
