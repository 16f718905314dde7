/**
 * A `snaptape:dirty:<checkpoint>` context, in the manner of qemu's `qemu:dirty-bitmap:<name>`: the
 * units (tracks or FBA blocks) changed since a checkpoint are reported with status bit 0 set
 * (NBD_STATE_DIRTY), the others with 0, so a client can pull an incremental itself with
 * `nbdinfo --map=snaptape:dirty:NAME` or `qemu-img map`/`nbdcopy` over just those extents.
 *
 * What changed is told, not looked up: the caller gives the changed-unit map of its checkpoint
 * (the change tracker owns checkpoints; this module knows none). The map is read at each request,
 * so one that grows while the export is served is reported as it stands.
 */
import { SNAPTAPE_DIRTY_NAMESPACE, unitExtents, type MetaContextSource } from './nbd-meta-context.js';
import { UsageError } from '../errors/snaptape-error.js';

/** Status bit of a changed unit in a dirty context (the same bit qemu's dirty bitmaps use). */
export const NBD_STATE_DIRTY = 1 << 0;

/** Which units changed since a checkpoint: one answer per unit of the export's byte view. */
export interface ChangedUnits {
  readonly unitCount: number;
  isChanged(unit: number): boolean;
}

/**
 * Checkpoint names a context can carry: every name the change tracker takes (tracking-file.ts:
 * letters, digits, '.', '_', ':' and '-', as a backup names its checkpoint after its tape file),
 * and nothing that needs quoting in a context name.
 */
const CHECKPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** Whether `checkpoint` can be named in a dirty context (a state file edited by hand may hold any name). */
export function isDirtyContextCheckpoint(checkpoint: string): boolean {
  return CHECKPOINT_NAME.test(checkpoint);
}

/** The context name of a checkpoint's changes. */
export function dirtyContextName(checkpoint: string): string {
  if (!isDirtyContextCheckpoint(checkpoint)) {
    throw new UsageError(`Cannot name a dirty context for checkpoint '${checkpoint.slice(0, 80)}': use 1-64 letters, digits, '.', '_', ':' or '-'`, {
      checkpoint: checkpoint.slice(0, 80),
    });
  }
  return `${SNAPTAPE_DIRTY_NAMESPACE}${checkpoint}`;
}

/** The dirty context of `checkpoint` over units of `unitBytes` bytes, from its changed-unit map. */
export function dirtyTracksContext(checkpoint: string, unitBytes: number, changed: ChangedUnits): MetaContextSource {
  return {
    name: dirtyContextName(checkpoint),
    extents: (offsetBytes, lengthBytes, maxExtents) =>
      unitExtents(offsetBytes, lengthBytes, maxExtents, unitBytes, (unit) => [
        { length: unitBytes, flags: unit < changed.unitCount && changed.isChanged(unit) ? NBD_STATE_DIRTY : 0 },
      ]),
  };
}
