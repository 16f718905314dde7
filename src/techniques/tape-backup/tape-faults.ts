/**
 * Injected faults on a backup's tape target (`--inject-tape`, `TapeBackupOptions.tapeFaults`): the
 * tape data-block writes this thread makes (every copy-before-write copy, and the in-order copy of
 * a backend workers cannot read) go through a `FaultInjector` (fault-plan.ts has the spec syntax).
 * A rule's unit is the data block number within its tape file (the track number for a whole-volume
 * CKD backup). Worker threads write the tape on their own descriptors and are not affected.
 *
 * A torn tape write writes the block with only its first K payload bytes (the rest zero), then
 * fails: the planned block length is the tape's contract, so the tear is in the content.
 */
import type { FaultPlan } from '../../image/fault-plan.js';
import { FaultInjector } from '../../image/fault-plan.js';
import type { DataBlockAddress, MappedTapeWriter } from '../../tape/mapped-tape-writer.js';

/** Routes `writer.writeDataBlock` through the plan; returns the injector (for its counters). */
export function injectTapeFaults(writer: MappedTapeWriter, plan: FaultPlan): FaultInjector {
  const injector = new FaultInjector(plan, writer.path);
  const write = writer.writeDataBlock.bind(writer);
  writer.writeDataBlock = (where: DataBlockAddress, payload: Uint8Array): void => {
    injector.write(where.blockIndex, payload.length, (bytes) => {
      if (bytes === payload.length) return write(where, payload);
      const torn = new Uint8Array(payload.length);
      torn.set(payload.subarray(0, bytes));
      write(where, torn);
    });
  };
  return injector;
}
