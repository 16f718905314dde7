/**
 * Maps a backup set onto a tape before any data moves (ARCHITECTURE.md, tape layout): every element
 * is one standard-labelled file, and every slot gets its final byte offset L_i + H + Σ(V + header).
 * The tape plan (src/tape/tape-plan.ts) does the arithmetic; this module only says what the files
 * are, and gives the per-slot tape offsets the copy workers need.
 */
import { planTape, type TapePlan } from '../../tape/tape-plan.js';
import type { TapeFileSpec } from '../../tape/tape-file-spec.js';
import { MAX_BLOCK_BYTES } from '../../tape/aws-block-header.js';
import { assert } from '../../base/assert.js';
import type { BackupSet } from './backup-elements.js';
import { headerLabels, type SourceDescription } from './backup-labels.js';

export interface BackupLayout {
  readonly plan: TapePlan;
  /** Tape offset of each slot's block header. */
  readonly tapeOffsets: Float64Array;
}

/** Where the tape is: a file, or (later) an FBA volume from block N0. */
export function planBackupTape(set: BackupSet, source: SourceDescription, options: { tapeVolser: string; creationDate?: string }): BackupLayout {
  const files: TapeFileSpec[] = set.elements.map((element) => {
    const lengths = Array.from(set.slots.lengths.subarray(element.firstSlot, element.firstSlot + element.slotCount));
    const blockSize = lengths.reduce((m, l) => Math.max(m, l), 0);
    assert(blockSize <= MAX_BLOCK_BYTES, 'every tape block fits one AWSTAPE chunk');
    return {
      dsname: element.name,
      recordFormat: 'U',
      recordLengthBytes: 0,
      blockSizeBytes: Math.max(1, blockSize),
      dataBlockLengths: lengths,
      userHeaderLabels: headerLabels(source, element),
      userTrailerLabelCount: 1,
      creationDate: options.creationDate,
      jobStepId: 'SNAPTAPE/BACKUP',
    };
  });
  const plan = planTape({ volser: options.tapeVolser, labelled: true, files });
  const tapeOffsets = new Float64Array(set.slots.lengths.length);
  set.elements.forEach((element, fileIndex) => {
    const offsets = plan.files[fileIndex]?.dataOffsetsBytes ?? [];
    for (let j = 0; j < element.slotCount; j++) tapeOffsets[element.firstSlot + j] = offsets[j] as number;
  });
  return { plan, tapeOffsets };
}
