/**
 * The `snaptape:dirty:<checkpoint>` metadata contexts of a served tracked volume: one per
 * checkpoint its tracker holds, offered to each client at negotiation (a checkpoint set while the
 * server runs, by a backup through it, is offered to the clients that connect after). Each
 * BLOCK_STATUS request reads the tracker's map as it is then, so a client sees every write that
 * was acknowledged before its request.
 */
import { dirtyContextName, dirtyTracksContext, isDirtyContextCheckpoint, type MetaContextSource } from '../export/index.js';
import { changedUnitsSince, trackerOf } from '../techniques/tracking/index.js';
import type { Volume } from '../volume/volume.js';

function liveDirtyContext(volume: Volume, checkpoint: string): MetaContextSource {
  return {
    name: dirtyContextName(checkpoint),
    extents: (offsetBytes, lengthBytes, maxExtents) => {
      const changed = changedUnitsSince(volume, checkpoint);
      const units = { unitCount: changed.length, isChanged: (unit: number) => changed[unit] === 1 };
      return dirtyTracksContext(checkpoint, volume.backend.slotBytes, units).extents(offsetBytes, lengthBytes, maxExtents);
    },
  };
}

/** The dirty contexts of `volume` now: none when it is not tracked. */
export function dirtyContextsOf(volume: Volume): MetaContextSource[] {
  const tracker = trackerOf(volume);
  if (tracker === undefined) return [];
  // A name no context can carry is not offered: it must not cost the client the other contexts.
  return tracker.state.checkpoints.filter((c) => isDirtyContextCheckpoint(c.name)).map((c) => liveDirtyContext(volume, c.name));
}
