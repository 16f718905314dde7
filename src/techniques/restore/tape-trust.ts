/**
 * What `verify` and `restore` check before they trust a backup tape's description of itself:
 * - each element's labels (VOL1, HDR1, HDR2, UHL*) against the SHA-256 in its UTL2
 *   (tape-backup/label-digest.ts); a tape written before UTL2 has its labels reported as not covered;
 * - for `restore --new-volume`, the source geometry that UHL1 records against the device type's
 *   limits and against the data on the tape, before a volume of that geometry is created (an
 *   edited size must not make a 50 GB file, nor a volume too small for the tape's tracks).
 */
import { TapeLabelError, VerifyError } from '../../errors/snaptape-error.js';
import { FBA_BLOCK_BYTES, MAX_CKD_CYLINDERS, familyByName } from '../../geometry/device-types.js';
import { FBA_BLOCKS_PER_TAPE_BLOCK } from '../tape-backup/backup-elements.js';
import { coveredLabelNames, labelDigestOf, labelsOnTape, trailerLabelProblem } from '../tape-backup/label-digest.js';
import type { BackupTape, TapeElement } from './backup-tape.js';

export interface LabelCheck {
  readonly name: string;
  /** The labels covered, as "VOL1 HDR1 HDR2 UHL1-UHL5". */
  readonly labels: string;
  readonly sha256: string;
  /** undefined: the tape records no label digest (written before UTL2), so its labels are not covered. */
  readonly recorded: string | undefined;
  /** Where EOF1 or EOF2 does not repeat HDR1 or HDR2 (tapes with UTL2 only); absent when they do. */
  readonly trailers?: string;
  readonly ok: boolean;
}

export function checkElementLabels(tape: BackupTape, element: TapeElement): LabelCheck {
  const labels = labelsOnTape(tape.reader, element.firstBlockNumber);
  const sha256 = labelDigestOf(labels);
  const recorded = element.labelsSha256;
  // Only a tape with UTL2 is held to it: older tapes keep verifying as they did.
  const trailers = recorded === undefined ? undefined : trailerLabelProblem(tape.reader, element.firstBlockNumber, element.blockCount);
  return {
    name: element.description.dsname ?? element.name,
    labels: coveredLabelNames(labels),
    sha256,
    recorded,
    ...(trailers ? { trailers } : {}),
    ok: recorded === undefined || (recorded === sha256 && trailers === undefined),
  };
}

/** `action`: "verify" or "restore from". */
export function labelMismatchError(action: string, path: string, check: LabelCheck): VerifyError {
  if (check.trailers !== undefined && check.recorded === check.sha256) {
    return new VerifyError(`Cannot ${action} ${path}: the trailer labels of ${check.name} do not repeat its header labels: ${check.trailers}`, {
      path,
      element: check.name,
    });
  }
  return new VerifyError(
    `Cannot ${action} ${path}: the labels of ${check.name} (${check.labels}) do not match their recorded SHA-256 (UTL2 records ${check.recorded}, the labels hash to ${check.sha256})`,
    { path, element: check.name },
  );
}

/** Refuses the tape when any element's labels do not match their digest. */
export function requireLabelsMatch(action: string, tape: BackupTape): void {
  for (const element of tape.elements) {
    const check = checkElementLabels(tape, element);
    if (!check.ok) throw labelMismatchError(action, tape.path, check);
  }
}

function geometryError(tape: BackupTape, problem: string): TapeLabelError {
  return new TapeLabelError(`Cannot restore ${tape.path} into a new volume: ${problem}`, { path: tape.path });
}

/** The recorded geometry against the device type and the tape's data; throws TapeLabelError. */
export function checkRecordedGeometry(tape: BackupTape): void {
  const source = tape.source;
  if (source.kind === 'fba') {
    checkFbaGeometry(tape);
    return;
  }
  const family = familyByName(source.typeName.split('-')[0] ?? '');
  if (!family) throw geometryError(tape, `UHL1 records device type ${source.typeName}, which is not a CKD type snaptape knows`);
  if (source.size > MAX_CKD_CYLINDERS) throw geometryError(tape, `UHL1 records ${source.size} cylinders: a ${family.family} has at most ${MAX_CKD_CYLINDERS}`);
  if (source.slotBytes !== family.trackSlotBytes)
    throw geometryError(tape, `UHL1 records ${source.slotBytes}-byte track slots: a ${family.family} has ${family.trackSlotBytes}`);
  const tracks = source.size * family.heads;
  for (const element of tape.elements) {
    const name = element.description.dsname ?? element.name;
    if (element.description.kind === 'volume' && element.blockCount !== tracks) {
      throw geometryError(tape, `UHL1 records ${source.size} cylinders (${tracks} tracks), but ${name} holds ${element.blockCount} tracks`);
    }
    if (element.description.kind === 'tracks') {
      const first = element.description.firstBlock ?? Number.NaN;
      const count = element.description.blockCount ?? Number.NaN;
      if (first + count > tracks || element.blockCount !== count) {
        throw geometryError(tape, `UHL3 of ${name} records tracks ${first}+${count} (of ${tracks}), but it holds ${element.blockCount} tracks`);
      }
    }
    if (element.description.kind !== 'dataset') continue;
    // Each data set block is a track image whose home address names the source track.
    for (let j = 0; j < element.blockCount; j++) {
      const blockNumber = element.firstBlockNumber + j;
      const block = tape.reader.readBlockData(blockNumber);
      if (block.length < 5) throw geometryError(tape, `block ${blockNumber} of ${name} is too short for a track image`);
      const cylinder = block.readUInt16BE(1);
      const head = block.readUInt16BE(3);
      if (cylinder >= source.size || head >= family.heads) {
        throw geometryError(tape, `UHL1 records ${source.size} cylinders, but block ${blockNumber} of ${name} is cylinder ${cylinder} head ${head}`);
      }
    }
  }
}

function checkFbaGeometry(tape: BackupTape): void {
  const source = tape.source;
  if (source.slotBytes !== FBA_BLOCK_BYTES) throw geometryError(tape, `UHL1 records ${source.slotBytes}-byte blocks: FBA blocks are ${FBA_BLOCK_BYTES}`);
  for (const element of tape.elements) {
    const d = element.description;
    if (d.kind === 'volume') {
      const expected = Math.ceil(source.size / FBA_BLOCKS_PER_TAPE_BLOCK);
      if (element.blockCount !== expected) {
        throw geometryError(
          tape,
          `UHL1 records ${source.size} blocks (${expected} tape blocks of up to ${FBA_BLOCKS_PER_TAPE_BLOCK}), but ${element.name} holds ${element.blockCount} tape blocks`,
        );
      }
    } else if (d.kind === 'blocks') {
      const first = d.firstBlock ?? Number.NaN;
      const count = d.blockCount ?? Number.NaN;
      if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 1 || first + count > source.size) {
        throw geometryError(tape, `UHL3 of ${element.name} records blocks ${first}+${count}, outside the ${source.size} blocks UHL1 records`);
      }
      const expected = Math.ceil(count / FBA_BLOCKS_PER_TAPE_BLOCK);
      if (element.blockCount !== expected)
        throw geometryError(tape, `UHL3 of ${element.name} records ${count} blocks (${expected} tape blocks), but it holds ${element.blockCount} tape blocks`);
    }
  }
}
