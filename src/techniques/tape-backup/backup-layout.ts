/**
 * Maps a backup set onto a tape before any data moves (ARCHITECTURE.md, tape layout): every element
 * is one standard-labelled file, and every slot gets its final byte offset L_i + H + Σ(V + header).
 * The tape plan (src/tape/tape-plan.ts) does the arithmetic; this module only says what the files
 * are, and gives the per-slot tape offsets the copy workers need.
 *
 * The plan is a pure function of (set, tape volser, creation date, header labels), which is what
 * a resumed backup persists to rebuild exactly the same layout.
 */
import { planTape, type TapePlan } from '../../tape/tape-plan.js';
import type { TapeFileSpec } from '../../tape/tape-file-spec.js';
import { MAX_BLOCK_BYTES } from '../../tape/aws-block-header.js';
import { assert } from '../../base/assert.js';
import type { BackupElement, BackupSet } from './backup-elements.js';

export interface BackupLayout {
  readonly plan: TapePlan;
  /** Tape offset of each slot's block header. */
  readonly tapeOffsets: Float64Array;
}

export interface LayoutInputs {
  readonly tapeVolser: string;
  /** cyyddd of the labels. */
  readonly creationDate: string;
  /** UHL payloads of each element. */
  readonly headerLabels: (element: BackupElement, index: number) => readonly Uint8Array[];
}

export function planBackupTape(set: BackupSet, inputs: LayoutInputs): BackupLayout {
  const files: TapeFileSpec[] = set.elements.map((element, i) => {
    // Plain loops: this runs in the start instant's synchronous stretch (a slot per track).
    const lengths: number[] = new Array<number>(element.slotCount);
    let blockSize = 0;
    for (let j = 0; j < element.slotCount; j++) {
      const length = set.slots.lengths[element.firstSlot + j] as number;
      lengths[j] = length;
      if (length > blockSize) blockSize = length;
    }
    assert(blockSize <= MAX_BLOCK_BYTES, 'every tape block fits one AWSTAPE chunk');
    return {
      dsname: element.name,
      recordFormat: 'U',
      recordLengthBytes: 0,
      blockSizeBytes: Math.max(1, blockSize),
      dataBlockLengths: lengths,
      userHeaderLabels: inputs.headerLabels(element, i),
      // UTL1 the data's SHA-256, UTL2 the labels' (label-digest.ts).
      userTrailerLabelCount: 2,
      creationDate: inputs.creationDate,
      jobStepId: 'SNAPTAPE/BACKUP',
    };
  });
  const plan = planTape({ volser: inputs.tapeVolser, labelled: true, files });
  const tapeOffsets = new Float64Array(set.slots.lengths.length);
  set.elements.forEach((element, fileIndex) => {
    const offsets = plan.files[fileIndex]?.dataOffsetsBytes ?? [];
    for (let j = 0; j < element.slotCount; j++) tapeOffsets[element.firstSlot + j] = offsets[j] as number;
  });
  return { plan, tapeOffsets };
}
