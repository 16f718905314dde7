/**
 * The engine's plan for a tape backup: every slot, in tape order, from its source unit(s) (the
 * size table's bytes of a track, or a group of FBA blocks) to its mapped tape offset, behind its
 * AWSTAPE header, which the layout fixed at the start instant (the blocks' digests are made from
 * the tape beside the copy: block-digest-pass.ts). Also the owning thread's ends of the copy: the source through the volume's backend, the tape through the session's writer (where
 * injected tape faults apply).
 */
import { createPacing } from '../../engine/copy-pacing.js';
import { newCursor, type CopyPlan } from '../../engine/copy-plan.js';
import type { TargetRate } from '../../engine/target-rate.js';
import type { TrackStateArray } from '../../engine/track-state.js';
import { FunctionUnitSink, FunctionUnitSource, type UnitSink, type UnitSource } from '../../engine/unit-ports.js';
import { AWS_HEADER_BYTES, writeBlockHeaders } from '../../tape/aws-block-header.js';
import type { MappedTapeWriter } from '../../tape/mapped-tape-writer.js';
import { assert } from '../../base/assert.js';
import type { Volume } from '../../volume/volume.js';
import type { BackupLayout } from './backup-layout.js';
import type { BackupSet } from './backup-elements.js';
import { DEFAULT_PAUSE_MS, type TapeBackupOptions } from './backup-types.js';

export function backupCopyPlan(
  set: BackupSet,
  layout: BackupLayout,
  states: TrackStateArray,
  baseOffsetBytes: number,
  options: TapeBackupOptions,
  targetRate?: TargetRate,
): CopyPlan {
  const { lengths } = set.slots;
  const count = lengths.length;
  // Plain loops over typed arrays: this runs in the start instant's synchronous stretch, where a
  // call per slot (3390-3: 50,085) held every host write for tens of ms.
  const prefixes = Buffer.alloc(count * AWS_HEADER_BYTES);
  // The first data block of a file follows a tapemark: its previous chunk is 0 bytes.
  for (const element of set.elements) writeBlockHeaders(lengths, element.firstSlot, element.slotCount, prefixes);
  const units = new Int32Array(count);
  for (let i = 0; i < count; i++) units[i] = i;
  const offsets = new Float64Array(layout.tapeOffsets);
  if (baseOffsetBytes !== 0) for (let i = 0; i < count; i++) offsets[i] = (offsets[i] as number) + baseOffsetBytes;
  return {
    stateBuffer: states.buffer,
    units,
    cursorBuffer: newCursor(),
    source: { firstSourceUnit: set.slots.firstUnit, lengths },
    target: { kind: 'placed', offsets, prefixes, prefixBytes: AWS_HEADER_BYTES },
    marks: [],
    readBeforeClaim: true,
    pacing: createPacing({
      bytesPerSecond: options.throttleMbps ? options.throttleMbps * 1e6 : 0,
      pauseAfterUnits: options.pauseAfter ?? 0,
      pauseMs: options.pauseMs ?? DEFAULT_PAUSE_MS,
    }),
    ...(targetRate ? { targetRate } : {}),
  };
}

/** A slot's start-instant bytes through the volume's backend (any backend, on the owning thread). */
export function backendSlotSource(volume: Volume, set: BackupSet): UnitSource {
  const { firstUnit, unitSpan, lengths } = set.slots;
  return new FunctionUnitSource((slot) => {
    const unit = firstUnit[slot] as number;
    const payload =
      volume.geometry.kind === 'ckd' ? volume.backend.readUnit(unit, lengths[slot] as number) : volume.backend.readUnits(unit, unitSpan[slot] as number);
    assert(payload.length === lengths[slot], 'the old bytes have the planned length');
    return payload;
  });
}

/** Slots to their mapped tape positions through the session's writer (its injected faults apply). */
export function writerTapeSink(writer: MappedTapeWriter, set: BackupSet): UnitSink {
  return new FunctionUnitSink((writes) => {
    for (const w of writes) {
      const fileIndex = set.slots.element[w.unit] as number;
      const blockIndex = w.unit - (set.elements[fileIndex]?.firstSlot ?? 0);
      writer.writeDataBlock({ fileIndex, blockIndex }, w.data);
    }
  });
}
