/**
 * The optional background physical copy of a snapshot (`--physical <image>`, issue 6): a
 * standalone Hercules CKD image of the target as execute left it. It reads the pinned directory
 * (slot-pins.ts) and the pool file directly, without the pool lock, so both volumes stay in use
 * meanwhile: any write to them copies-on-write away from the pinned slots.
 *
 * It copies through the copy engine on the owning thread (`runBackgroundCopy`): the units are the
 * tracks with a slot in the pinned directory, a cylinder per batch with a yield between batches
 * (in-process use), paced as the token record says (`--pause-after`, `--pause-ms`,
 * `--throttle-mbps`). It saves its progress in the token record now and then; at the end it marks
 * the pin done and the token complete (or failed).
 */
import { dirname, resolve } from 'node:path';
import { runBackgroundCopy } from '../../engine/background-copy.js';
import { createPacing } from '../../engine/copy-pacing.js';
import { newCursor } from '../../engine/copy-plan.js';
import { TrackStateArray } from '../../engine/track-state.js';
import { FunctionUnitSink, FunctionUnitSource } from '../../engine/unit-ports.js';
import { fsyncDirectory } from '../../image/durable-replace.js';
import { createImage } from '../../image/create-image.js';
import { readMappedTrack } from '../../subsystem/mapped-track-read.js';
import { markPinDone, pinPath } from '../../subsystem/slot-pins.js';
import { UNALLOCATED_SLOT } from '../../subsystem/subsystem-layouts.js';
import { TrackDirectory } from '../../subsystem/track-directory.js';
import { PoolReader } from '../../subsystem/track-pool.js';
import { errorFromData, SessionError } from '../../errors/snaptape-error.js';
import { PhaseReporter, type OnPhaseProgress } from '../../base/phase-progress.js';
import { loadByPollingToken, saveRecord, transition, type TokenRecord } from './snapshot-tokens.js';

/** Tracks copied between two progress saves in the token record (400 cylinders). */
const PROGRESS_EVERY_TRACKS = 6000;
/** Pause after `pauseAfter` tracks when no `pauseMs` is given: the tape backup's default. */
const DEFAULT_PHYSICAL_PAUSE_MS = 5;

export interface PhysicalCopyOptions {
  /** One phase, copy, counted in the tracks that have a slot (the only ones copied). */
  readonly onProgress?: OnPhaseProgress;
}

/** Writes the physical image of an executed snapshot (the work of `execute --physical`), paced, and returns the token's final record. Throws SessionError when the token is not copying or asked for no physical copy. */
export async function runPhysicalCopy(pollingToken: string, options: PhysicalCopyOptions = {}): Promise<TokenRecord> {
  let record = loadByPollingToken(pollingToken);
  const physical = record.physical;
  if (record.state !== 'copying' || !physical) {
    throw new SessionError(
      `Cannot write the physical copy of ${pollingToken}: the token is ${record.state}${physical ? '' : ' and asked for no physical copy'}`,
      { token: pollingToken },
    );
  }
  record = { ...record, physical: { ...physical, pid: process.pid } };
  saveRecord(record);
  const reader = new PoolReader(record.dir);
  let pinned: TrackDirectory | undefined;
  try {
    const directory = TrackDirectory.open(pinPath(record.dir, physical.pinId), reader.shape.family, { readOnly: true });
    pinned = directory;
    const geometry = directory.geometry;
    const states = TrackStateArray.create(geometry.trackCount);
    const units: number[] = [];
    for (let t = 0; t < geometry.trackCount; t++) {
      if (directory.entry(t).slot === UNALLOCATED_SLOT) continue;
      states.include(t);
      units.push(t);
    }
    const image = createImage(physical.path, geometry, { force: true });
    try {
      let savedAt = 0;
      const progress = new PhaseReporter(options.onProgress);
      progress.begin('copy', units.length, 'tracks');
      const pacing = physical.pacing ?? {};
      const result = await runBackgroundCopy({
        plan: {
          stateBuffer: states.buffer,
          units: Int32Array.from(units),
          cursorBuffer: newCursor(),
          source: {},
          target: { kind: 'slot', trim: false },
          marks: [],
          // Nothing else copies these tracks: the pinned directory does not change.
          readBeforeClaim: false,
          pacing: createPacing({
            bytesPerSecond: (pacing.throttleMbps ?? 0) * 1e6,
            pauseAfterUnits: pacing.pauseAfter ?? 0,
            pauseMs: pacing.pauseMs ?? DEFAULT_PHYSICAL_PAUSE_MS,
          }),
        },
        ports: () => ({
          source: new FunctionUnitSource((t) => {
            const entry = directory.entry(t);
            return readMappedTrack(reader, geometry, t, entry, entry.extentBytes, physical.path);
          }),
          sink: new FunctionUnitSink((writes) => {
            for (const w of writes) image.writeUnit(w.unit, w.data);
            progress.advance(writes.length);
            const last = writes[writes.length - 1];
            if (last !== undefined && last.unit + 1 - savedAt >= PROGRESS_EVERY_TRACKS) {
              savedAt = last.unit + 1;
              saveRecord({ ...record, physical: { ...record.physical!, tracksDone: savedAt } });
            }
          }),
        }),
      });
      if (result.error) throw errorFromData(result.error);
      image.sync();
      // The new image's name too, before a record says complete.
      fsyncDirectory(dirname(resolve(physical.path)));
    } finally {
      image.close();
    }
    const done: TokenRecord = {
      ...record,
      state: transition(record, 'finish', pollingToken),
      physical: { ...record.physical!, tracksDone: geometry.trackCount },
    };
    saveRecord(done);
    return done;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    saveRecord({ ...record, state: transition(record, 'fail', pollingToken), physical: { ...record.physical!, error: message } });
    throw error;
  } finally {
    pinned?.close();
    reader.close();
    markPinDone(record.dir, physical.pinId);
  }
}
