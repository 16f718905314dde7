/**
 * The tape plan: the byte offset of every label, tapemark and data block of a finished tape,
 * computed before anything is written (ARCHITECTURE.md "Tape layout"; native-layout/aws-block-header.md).
 *
 *   SL: VOL1 | HDR1 HDR2 UHL* TM data… TM EOF1 EOF2 UTL* TM | … | TM
 *   NL:        data… TM | … | TM            (a blank tape: SL VOL1 HDR1(dummy) TM, NL TM TM)
 *
 * A block of L bytes at `offsetBytes` occupies offsetBytes .. offsetBytes + 6 + L, and its header's
 * prvlen is the length of the chunk before it, so every header is known from the plan alone. Every
 * block is one chunk (flags1 0xA0), as Hercules writes them.
 *
 * Invariants: the plan is plain data (structured-clone safe, so it can be posted to worker threads);
 * entries are contiguous from offset 0 to `sizeBytes`; a data block's prvlen is 0 for the first
 * block of a file (a tapemark or the load point precedes it) and the previous block's length after.
 */
import { assert } from '../base/assert.js';
import { AWS_HEADER_BYTES } from './aws-block-header.js';
import { LABEL_BYTES } from './label-layouts.js';
import { encodeInitializedHeader, encodeUserLabel, encodeVolumeLabel } from './standard-labels.js';
import { assertValidFileSpec, buildFileLabels, userTrailerLabelCountOf, type TapeFileSpec } from './tape-file-spec.js';

export interface TapePlanInput {
  /** Volume serial (SL); ignored on NL tapes. */
  readonly volser: string;
  readonly owner?: string;
  readonly labelled: boolean;
  readonly files: readonly TapeFileSpec[];
}

export interface PlannedBlock {
  readonly offsetBytes: number;
  readonly lengthBytes: number;
  readonly previousChunkBytes: number;
}

export interface PlannedLabel extends PlannedBlock {
  readonly labelId: string;
  /** The 80 label bytes; undefined for a UTL whose data is given when the tape is finished. */
  readonly bytes: Uint8Array | undefined;
}

export interface PlannedTapemark {
  readonly offsetBytes: number;
  readonly previousChunkBytes: number;
}

export interface PlannedFile {
  readonly fileIndex: number;
  /** HDR1 file sequence number (SL), or the physical file number (NL). */
  readonly fileSequence: number;
  readonly spec: TapeFileSpec;
  /** HDR1 HDR2 UHL* (none on NL). */
  readonly headerLabels: readonly PlannedLabel[];
  readonly headerTapemark: PlannedTapemark | undefined;
  /** Header offset of each data block, in order. */
  readonly dataOffsetsBytes: readonly number[];
  readonly dataTapemark: PlannedTapemark;
  /** EOF1 EOF2 UTL* (none on NL). */
  readonly trailerLabels: readonly PlannedLabel[];
  readonly trailerTapemark: PlannedTapemark | undefined;
}

export interface TapePlan {
  readonly volser: string;
  readonly labelled: boolean;
  /** VOL1, plus the dummy HDR1 of a blank SL tape. */
  readonly volumeLabels: readonly PlannedLabel[];
  readonly files: readonly PlannedFile[];
  /** The tapemark(s) that end the volume. */
  readonly endTapemarks: readonly PlannedTapemark[];
  readonly sizeBytes: number;
  /** Blocks plus tapemarks, i.e. the block number one past the last entry. */
  readonly entryCount: number;
}

/** Hands out consecutive positions, carrying the previous chunk length for prvlen. */
class PlanCursor {
  offsetBytes = 0;
  entryCount = 0;
  private previousChunkBytes = 0;

  block(lengthBytes: number): PlannedBlock {
    const planned = { offsetBytes: this.offsetBytes, lengthBytes, previousChunkBytes: this.previousChunkBytes };
    this.advance(lengthBytes);
    return planned;
  }

  /** `block(lengthBytes).offsetBytes`, without the object. */
  dataBlock(lengthBytes: number): number {
    const offsetBytes = this.offsetBytes;
    this.advance(lengthBytes);
    return offsetBytes;
  }

  label(labelId: string, bytes: Uint8Array | undefined): PlannedLabel {
    assert(bytes === undefined || bytes.length === LABEL_BYTES, `${labelId} is ${LABEL_BYTES} bytes`);
    return { ...this.block(LABEL_BYTES), labelId, bytes };
  }

  tapemark(): PlannedTapemark {
    const planned = { offsetBytes: this.offsetBytes, previousChunkBytes: this.previousChunkBytes };
    this.advance(0);
    return planned;
  }

  private advance(lengthBytes: number): void {
    this.offsetBytes += AWS_HEADER_BYTES + lengthBytes;
    this.previousChunkBytes = lengthBytes;
    this.entryCount += 1;
  }
}

function planFile(cursor: PlanCursor, input: TapePlanInput, spec: TapeFileSpec, fileIndex: number): PlannedFile {
  assertValidFileSpec(spec);
  const fileSequence = fileIndex + 1;
  const labels = input.labelled ? buildFileLabels({ volser: input.volser, spec, fileSequence, blockCount: spec.dataBlockLengths.length }) : undefined;
  const headerLabels: PlannedLabel[] = [];
  let headerTapemark: PlannedTapemark | undefined;
  if (labels !== undefined) {
    headerLabels.push(cursor.label('HDR1', labels.header1), cursor.label('HDR2', labels.header2));
    (spec.userHeaderLabels ?? []).forEach((userData, i) =>
      headerLabels.push(cursor.label(`UHL${i + 1}`, encodeUserLabel({ labelId: 'UHL', number: i + 1, userData }))),
    );
    headerTapemark = cursor.tapemark();
  }
  // A loop with no object per block: a backup plans a block per track in its start instant.
  const dataOffsetsBytes: number[] = new Array<number>(spec.dataBlockLengths.length);
  for (let i = 0; i < dataOffsetsBytes.length; i++) dataOffsetsBytes[i] = cursor.dataBlock(spec.dataBlockLengths[i] as number);
  const dataTapemark = cursor.tapemark();
  const trailerLabels: PlannedLabel[] = [];
  let trailerTapemark: PlannedTapemark | undefined;
  if (labels !== undefined) {
    trailerLabels.push(cursor.label('EOF1', labels.trailer1), cursor.label('EOF2', labels.trailer2));
    for (let i = 0; i < userTrailerLabelCountOf(spec); i++) {
      const userData = spec.userTrailerLabels?.[i];
      trailerLabels.push(cursor.label(`UTL${i + 1}`, userData === undefined ? undefined : encodeUserLabel({ labelId: 'UTL', number: i + 1, userData })));
    }
    trailerTapemark = cursor.tapemark();
  }
  return { fileIndex, fileSequence, spec, headerLabels, headerTapemark, dataOffsetsBytes, dataTapemark, trailerLabels, trailerTapemark };
}

/** Computes where every block of the finished tape goes. Pure: nothing is read or written. */
export function planTape(input: TapePlanInput): TapePlan {
  const cursor = new PlanCursor();
  const volumeLabels: PlannedLabel[] = [];
  if (input.labelled) {
    assert(input.volser.length >= 1 && input.volser.length <= 6, 'a volser has 1 to 6 characters');
    volumeLabels.push(cursor.label('VOL1', encodeVolumeLabel({ volser: input.volser, accessibility: '', owner: input.owner ?? '' })));
    if (input.files.length === 0) volumeLabels.push(cursor.label('HDR1', encodeInitializedHeader()));
  }
  const files = input.files.map((spec, fileIndex) => planFile(cursor, input, spec, fileIndex));
  const endTapemarks = [cursor.tapemark()];
  if (!input.labelled && input.files.length === 0) endTapemarks.push(cursor.tapemark());
  return {
    volser: input.labelled ? input.volser : '',
    labelled: input.labelled,
    volumeLabels,
    files,
    endTapemarks,
    sizeBytes: cursor.offsetBytes,
    entryCount: cursor.entryCount,
  };
}

export type PlannedEntry =
  | { readonly kind: 'label'; readonly label: PlannedLabel; readonly fileIndex: number | undefined }
  | { readonly kind: 'data'; readonly block: PlannedBlock; readonly fileIndex: number; readonly blockIndex: number }
  | { readonly kind: 'tapemark'; readonly tapemark: PlannedTapemark };

/** Position of data block `blockIndex` of file `fileIndex`. */
export function plannedDataBlock(plan: TapePlan, where: { readonly fileIndex: number; readonly blockIndex: number }): PlannedBlock {
  const file = plan.files[where.fileIndex];
  assert(file !== undefined, `file ${where.fileIndex} is in the plan`);
  const offsetBytes = file.dataOffsetsBytes[where.blockIndex];
  const lengthBytes = file.spec.dataBlockLengths[where.blockIndex];
  assert(offsetBytes !== undefined && lengthBytes !== undefined, `block ${where.blockIndex} is in file ${where.fileIndex}`);
  const previousChunkBytes = where.blockIndex === 0 ? 0 : (file.spec.dataBlockLengths[where.blockIndex - 1] ?? 0);
  return { offsetBytes, lengthBytes, previousChunkBytes };
}

/** Every entry of the planned tape in tape order (labels, data blocks, tapemarks). */
export function* plannedEntries(plan: TapePlan): Generator<PlannedEntry> {
  for (const label of plan.volumeLabels) yield { kind: 'label', label, fileIndex: undefined };
  for (const file of plan.files) {
    for (const label of file.headerLabels) yield { kind: 'label', label, fileIndex: file.fileIndex };
    if (file.headerTapemark !== undefined) yield { kind: 'tapemark', tapemark: file.headerTapemark };
    for (let blockIndex = 0; blockIndex < file.dataOffsetsBytes.length; blockIndex++) {
      yield { kind: 'data', block: plannedDataBlock(plan, { fileIndex: file.fileIndex, blockIndex }), fileIndex: file.fileIndex, blockIndex };
    }
    yield { kind: 'tapemark', tapemark: file.dataTapemark };
    for (const label of file.trailerLabels) yield { kind: 'label', label, fileIndex: file.fileIndex };
    if (file.trailerTapemark !== undefined) yield { kind: 'tapemark', tapemark: file.trailerTapemark };
  }
  for (const tapemark of plan.endTapemarks) yield { kind: 'tapemark', tapemark };
}
