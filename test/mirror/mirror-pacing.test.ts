/**
 * Layer: scenario. The pacing of a mirror resync (a 3390 of 150 cylinders filled with data, a
 * local secondary), driven through the library API and measured from the session's own events:
 * - `pauseAfter 500, pauseMs 300`: after every 500 tracks copied the resync as a whole stops for at
 *   least 300 ms (the progress event of the batch that reaches 500·k, then nothing for 300 ms);
 * - `throttleMbps 20`: the resync's average rate, from rejoin to ONGOING, is within 15% of 20 MB/s.
 * Each resync copies every track: the mirror is split, every track of the primary is written again
 * (so every bit goes invalid), the session is detached and resumed with the pacing, and rejoined.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVolume } from '../../src/api/volume-api.js';
import { MirrorSession, type MirrorSessionOptions } from '../../src/techniques/mirror/mirror-session.js';
import { makeFilledVolume } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { filesIdentical, makeBlankSecondary, seedFromEnv } from './mirror-fixtures.js';

const CYLINDERS = 150;
const PAUSE_AFTER = 500;
const PAUSE_MS = 300;
/**
 * What the measurement cannot see: a progress event reaches the listener a little after the engine
 * counted its batch and started the pause (a microtask later, and Date.now() ticks in whole ms), so
 * the gap between two events may read a few ms shorter than the pause the engine held. A resync
 * that did not pause shows gaps of a few ms, far below this.
 */
const EVENT_LATENCY_MS = 5;
const THROTTLE_MBPS = 20;

let dir: ReturnType<typeof makeTempDir>;
let primaryPath: string;
let secondaryPath: string;

/** Splits the in-sync mirror, writes every track of the primary again, and detaches: a resync of every track waits. */
async function leaveEveryTrackToResync(mirror: MirrorSession): Promise<void> {
  mirror.split('M2');
  const volume = mirror.volume;
  const slot = volume.backend.slotBytes;
  for (let u = 0; u < volume.unitCount; u++) volume.writeFlat(u * slot, volume.backend.readUnit(u, slot));
  expect(mirror.status().mirrors[0]?.invalidTracks).toBe(volume.unitCount);
  await mirror.detach();
  volume.close();
}

interface Resync {
  readonly startedMs: number;
  readonly ongoingMs: number;
  /** Each progress event: when, and the tracks the resync had copied. */
  readonly progress: { at: number; copied: number }[];
  readonly tracks: number;
  readonly bytes: number;
}

/** Resumes the split mirror with `options`, rejoins, and records the resync until ONGOING. */
async function resyncWith(options: MirrorSessionOptions): Promise<Resync> {
  const volume = openVolume(primaryPath, { readOnly: false });
  const mirror = MirrorSession.resume(volume, options);
  expect(mirror.status().mirrors[0]?.state).toBe('BACKUP');
  const progress: { at: number; copied: number }[] = [];
  let ongoingMs = 0;
  mirror.on('progress', () => progress.push({ at: Date.now(), copied: mirror.status().mirrors[0]?.resync?.copied ?? 0 }));
  mirror.on('state', (_name: string, state: string) => {
    if (state === 'ONGOING') ongoingMs = Date.now();
  });
  const startedMs = Date.now();
  mirror.rejoin('M2');
  await mirror.whenInSync({ timeoutMs: 60_000 });
  const resync = mirror.status().mirrors[0]?.resync;
  expect(resync?.copied).toBe(volume.unitCount);
  volume.sync();
  expect(filesIdentical(primaryPath, secondaryPath)).toBe(true);
  const result = { startedMs, ongoingMs, progress, tracks: volume.unitCount, bytes: volume.unitCount * volume.backend.slotBytes };
  await leaveEveryTrackToResync(mirror);
  return result;
}

beforeAll(async () => {
  dir = makeTempDir('snaptape-mirror-pacing-');
  const primary = makeFilledVolume(dir.path, { cylinders: CYLINDERS, seed: seedFromEnv('mirror pacing'), percent: 100 });
  primaryPath = primary.path;
  secondaryPath = makeBlankSecondary(dir.path, 'secondary.ckd', CYLINDERS);
  const mirror = MirrorSession.create(primary, [secondaryPath]);
  await mirror.whenInSync({ timeoutMs: 60_000 });
  await leaveEveryTrackToResync(mirror);
}, 120_000);

afterAll(() => dir.cleanup());

describe('mirror resync pacing', () => {
  it(`stops the resync as a whole for ${PAUSE_MS} ms after every ${PAUSE_AFTER} tracks`, async () => {
    const resync = await resyncWith({ pauseAfter: PAUSE_AFTER, pauseMs: PAUSE_MS });
    const gaps: { afterTracks: number; ms: number }[] = [];
    for (let k = 1; k * PAUSE_AFTER < resync.tracks; k++) {
      // The batch that reached k·500 tracks, then the next batch: nothing was copied in between.
      const at = resync.progress.findIndex((p) => p.copied >= k * PAUSE_AFTER);
      const reached = resync.progress[at];
      const next = resync.progress[at + 1];
      expect(reached && next).toBeTruthy();
      gaps.push({ afterTracks: reached?.copied ?? 0, ms: (next?.at ?? 0) - (reached?.at ?? 0) });
    }
    console.log(`mirror resync of ${resync.tracks} tracks in ${resync.ongoingMs - resync.startedMs} ms; pauses: ${JSON.stringify(gaps)}`);
    expect(gaps.length).toBe(Math.floor((resync.tracks - 1) / PAUSE_AFTER));
    for (const gap of gaps) expect(gap.ms).toBeGreaterThanOrEqual(PAUSE_MS - EVENT_LATENCY_MS);
    expect(resync.ongoingMs - resync.startedMs).toBeGreaterThanOrEqual(gaps.length * PAUSE_MS);
  }, 120_000);

  it(`holds the resync at ${THROTTLE_MBPS} MB/s within 15%`, async () => {
    const resync = await resyncWith({ throttleMbps: THROTTLE_MBPS });
    const seconds = (resync.ongoingMs - resync.startedMs) / 1000;
    const mbps = resync.bytes / 1e6 / seconds;
    console.log(`mirror resync of ${resync.tracks} tracks (${(resync.bytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(2)} s: ${mbps.toFixed(2)} MB/s`);
    expect(seconds).toBeGreaterThan(2);
    expect(Math.abs(mbps - THROTTLE_MBPS) / THROTTLE_MBPS).toBeLessThanOrEqual(0.15);
  }, 120_000);
});
