/**
 * The optional background physical copy of a snapshot (`--physical <image>`, issue 6): a
 * standalone Hercules CKD image of the target as execute left it. It reads the pinned directory
 * (slot-pins.ts) and the pool file directly, without the pool lock, so both volumes stay in use
 * meanwhile: any write to them copies-on-write away from the pinned slots.
 *
 * It yields to the event loop between batches (in-process use) and saves its progress in the
 * token record now and then; at the end it marks the pin done and the token complete (or failed).
 */
import { dirname, resolve } from 'node:path';
import { fsyncDirectory } from '../../image/durable-replace.js';
import { createImage } from '../../image/create-image.js';
import { readMappedTrack } from '../../subsystem/mapped-track-read.js';
import { markPinDone, pinPath } from '../../subsystem/slot-pins.js';
import { UNALLOCATED_SLOT } from '../../subsystem/subsystem-layouts.js';
import { TrackDirectory } from '../../subsystem/track-directory.js';
import { PoolReader } from '../../subsystem/track-pool.js';
import { SessionError } from '../../errors/snaptape-error.js';
import { loadByPollingToken, saveRecord, transition, type TokenRecord } from './snapshot-tokens.js';

/** Tracks copied between two yields: 8 cylinders, so an in-process host write waits little. */
export const PHYSICAL_BATCH_TRACKS = 120;
/** Batches between two progress saves in the token record. */
const PROGRESS_EVERY_BATCHES = 50;

export async function runPhysicalCopy(pollingToken: string): Promise<TokenRecord> {
  let record = loadByPollingToken(pollingToken);
  const physical = record.physical;
  if (record.state !== 'copying' || !physical) {
    throw new SessionError(`Cannot write the physical copy of ${pollingToken}: the token is ${record.state}${physical ? '' : ' and asked for no physical copy'}`, { token: pollingToken });
  }
  record = { ...record, physical: { ...physical, pid: process.pid } };
  saveRecord(record);
  const reader = new PoolReader(record.dir);
  let pinned: TrackDirectory | undefined;
  try {
    pinned = TrackDirectory.open(pinPath(record.dir, physical.pinId), reader.shape.family, { readOnly: true });
    const geometry = pinned.geometry;
    const image = createImage(physical.path, geometry, { force: true });
    try {
      for (let first = 0; first < geometry.trackCount; first += PHYSICAL_BATCH_TRACKS) {
        const end = Math.min(geometry.trackCount, first + PHYSICAL_BATCH_TRACKS);
        for (let t = first; t < end; t++) {
          const entry = pinned.entry(t);
          if (entry.slot === UNALLOCATED_SLOT) continue;
          image.writeUnit(t, readMappedTrack(reader, geometry, t, entry, entry.extentBytes, physical.path));
        }
        if ((first / PHYSICAL_BATCH_TRACKS) % PROGRESS_EVERY_BATCHES === 0) saveRecord({ ...record, physical: { ...record.physical!, tracksDone: end } });
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      image.sync();
      // The new image's name too, before a record says complete.
      fsyncDirectory(dirname(resolve(physical.path)));
    } finally {
      image.close();
    }
    const done: TokenRecord = { ...record, state: transition(record, 'finish', pollingToken), physical: { ...record.physical!, tracksDone: geometry.trackCount } };
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
