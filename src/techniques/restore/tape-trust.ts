/**
 * What `verify` and `restore` check before they trust a backup tape's description of itself:
 * - each element's labels (VOL1, HDR1, HDR2, UHL*) against the SHA-256 in its UTL2
 *   (tape-backup/label-digest.ts); a tape written before UTL2 has its labels reported as not covered;
 * - for `restore --new-volume`, the source geometry that UHL1 records against the device type's
 *   limits and against the data on the tape, before a volume of that geometry is created (an
 *   edited size must not make a 50 GB file, nor a volume too small for the tape's tracks);
 * - for a chain (`restore` and `serve --tape` of a full backup and its incrementals), that every
 *   incremental holds the full backup's source volume and only runs of its units inside it, before
 *   a byte of the chain's data is written or served: a chain whose links follow may still be crafted;
 * - every element's blocks, in the pass that hashes them (verifyPassCheck): each fits its element,
 *   and a CKD data set's is a track image.
 */
import { TapeFormatError, TapeLabelError, UsageError, VerifyError } from '../../errors/snaptape-error.js';
import { FBA_BLOCK_BYTES, MAX_CKD_CYLINDERS, familyByName } from '../../geometry/device-types.js';
import { parseGeometry, unitCount as unitsOf } from '../../geometry/volume-geometry.js';
import { FBA_BLOCKS_PER_TAPE_BLOCK } from '../tape-backup/backup-elements.js';
import { coveredLabelNames, labelDigestOf, labelsOnTape, trailerLabelProblem } from '../tape-backup/label-digest.js';
import type { BackupTape, ElementCheck, TapeElement } from './backup-tape.js';
import { homeAddressOf, trackUsedBytes } from '../../ckd/track-codec.js';
import { HOME_ADDRESS_LAYOUT } from '../../ckd/track-layout.js';

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

/** "volume FULLVOLUME.SRC001, tracks TRACKS.T0000001": a tape's elements, as a message names them. */
export function describeElements(tape: BackupTape): string {
  return tape.elements.map((e) => `${e.description.kind} ${e.description.dsname ?? e.name}`).join(', ');
}

/** Every incremental of a chain is of the full backup's volume: same device, size and slots. `action`: "serve", "restore". */
function checkSameSource(action: string, full: BackupTape, tape: BackupTape): void {
  const a = full.source;
  const b = tape.source;
  if (a.kind !== b.kind || a.typeName !== b.typeName || a.size !== b.size || a.slotBytes !== b.slotBytes) {
    throw new UsageError(
      `Cannot ${action} the chain: ${tape.path} holds a ${b.typeName} of ${b.size} ${b.kind === 'ckd' ? 'cylinders' : 'blocks'}, ${full.path} a ${a.typeName} of ${a.size}`,
      { path: tape.path },
    );
  }
}

/**
 * The first unit of an incremental's element: its elements are runs of units (or the whole volume)
 * inside the `unitCount` units of the volume; a data set element is no part of a chain.
 */
export function incrementalRun(action: string, tape: BackupTape, element: TapeElement, unitCount: number): number {
  const d = element.description;
  if (d.kind !== 'tracks' && d.kind !== 'blocks' && d.kind !== 'volume') {
    throw new UsageError(`Cannot ${action} the chain: ${tape.path} holds ${describeElements(tape)}, not runs of the volume's units`, { path: tape.path });
  }
  const first = d.kind === 'volume' ? 0 : (d.firstBlock ?? 0);
  const count = d.kind === 'volume' ? unitCount : (d.blockCount ?? 0);
  if (first < 0 || first + count > unitCount) {
    throw new UsageError(`Cannot ${action} the chain: ${element.name} of ${tape.path} holds units ${first}-${first + count - 1}, the volume has ${unitCount}`, {
      path: tape.path,
    });
  }
  return first;
}

/**
 * Refuses an incremental of the chain over `full` that is of another volume, or holds anything but
 * runs of the volume's units inside it (a CKD run: one tape block per track). UsageError naming the tape.
 */
export function requireIncrementalsFit(action: string, full: BackupTape, incrementals: readonly BackupTape[]): void {
  if (incrementals.length === 0) return;
  const source = full.source;
  const unitCount = source.kind === 'fba' ? source.size : unitsOf(parseGeometry(source.typeName, { cylinders: source.size }));
  for (const tape of incrementals) {
    checkSameSource(action, full, tape);
    for (const element of tape.elements) {
      const first = incrementalRun(action, tape, element, unitCount);
      if (source.kind === 'ckd' && first + element.blockCount > unitCount) {
        throw new UsageError(`Cannot ${action} the chain: ${element.name} of ${tape.path} runs past the volume's ${unitCount} tracks`, { path: tape.path });
      }
      // A CKD run is written a track per tape block: more blocks than it records land on tracks it does not name.
      const count = element.description.kind === 'volume' ? unitCount : (element.description.blockCount ?? 0);
      if (source.kind === 'ckd' && element.blockCount !== count) {
        throw new UsageError(
          `Cannot ${action} the chain: ${element.name} of ${tape.path} records tracks ${first}-${first + count - 1}, but holds ${element.blockCount} tracks`,
          { path: tape.path },
        );
      }
    }
  }
}

/** The error of a tape block that is not what a backup writes for its element: TapeFormatError naming the tape and the block. */
function blockError(tape: BackupTape, element: TapeElement, index: number, bytes: number, problem: string): TapeFormatError {
  const blockNumber = element.firstBlockNumber + index;
  return new TapeFormatError(`Cannot restore ${element.name} from ${tape.path}: tape block ${blockNumber} holds ${bytes} bytes, ${problem}`, {
    path: tape.path,
    blockNumber,
  });
}

/**
 * Refuses a tape block that is not what a backup writes for its element (a crafted tape), naming
 * the tape and the block: an FBA element's blocks are whole 512-byte blocks, a CKD volume's or run's
 * (one per track) fit the track slot the tape records (a block that is no track image is written raw
 * over its slot, and a longer one would run into the next track's). A restore calls it on every block
 * of the pass that verifies the tape, before anything is written, and again as it writes; `verify`
 * calls it too, so that it never says OK of a tape its restore refuses.
 */
export function requireBlockFits(tape: BackupTape, element: TapeElement, block: Buffer, index: number): void {
  if (tape.source.kind === 'fba') {
    if (block.length % FBA_BLOCK_BYTES !== 0) throw blockError(tape, element, index, block.length, `not whole ${FBA_BLOCK_BYTES}-byte blocks`);
  } else if (element.description.kind !== 'dataset' && block.length > tape.source.slotBytes) {
    throw blockError(tape, element, index, block.length, `more than the ${tape.source.slotBytes}-byte track slot`);
  }
}

/**
 * What a lone tape's restore places: a CKD backup's whole volume and data sets, an FBA backup's
 * whole volume and runs of blocks; anything else is refused (UsageError naming the tape), and
 * `verify` refuses it too of a tape that names no base (an incremental's runs are placed by its chain).
 */
export function requirePlaceable(tape: BackupTape, element: TapeElement): void {
  const kind = element.description.kind;
  const ckd = tape.source.kind === 'ckd';
  if (ckd ? kind === 'volume' || kind === 'dataset' : kind === 'volume' || kind === 'blocks') return;
  const what = {
    tracks: 'a run of tracks (an incremental holds those: restore its chain)',
    blocks: 'a run of FBA blocks',
    dataset: 'a data set',
    volume: 'a volume',
  }[kind];
  throw new UsageError(
    `Cannot restore ${element.name} from ${tape.path}: it is ${what}, but a backup of ${ckd ? 'a CKD volume restores whole volumes and data sets' : 'an FBA volume restores whole volumes and runs of blocks'}`,
    { path: tape.path },
  );
}

/** A data set's tape block decodes as the track image its home address names (track-codec.ts). */
function isTrackImage(tape: BackupTape, block: Buffer, index: number): boolean {
  if (block.length < HOME_ADDRESS_LAYOUT.size) return false;
  try {
    trackUsedBytes(block, homeAddressOf(block), { path: tape.path, trackIndex: index });
    return true;
  } catch {
    return false;
  }
}

/** The checks an element's blocks get in the pass that verifies them, and what is left to check after it. */
export interface VerifyPassCheck {
  /** Handed each block of the pass, after it is hashed. */
  readonly visit: (block: Buffer, index: number) => void;
  /** Called with the element's digest check once the pass is done: throws what the blocks were found to be. */
  readonly settle: (check: ElementCheck) => void;
}

/**
 * The checks of the pass that verifies an element (`verify`, a restore before it writes, a chain's
 * incrementals), one implementation for all of them: every block fits its element
 * (requireBlockFits, thrown at once), and every block of a CKD data set is a track image (a data
 * set's tracks are placed by their home addresses, or relocated, so each must decode). A block that
 * is no track image is thrown by `settle`, and only when the element's digest matched: a tape damaged
 * there is reported as damaged (its digest), a crafted one whose digests were sealed again as
 * malformed. TapeFormatError naming the tape and the block.
 */
export function verifyPassCheck(tape: BackupTape, element: TapeElement): VerifyPassCheck {
  const decode = tape.source.kind === 'ckd' && element.description.kind === 'dataset';
  let notTrack: { readonly index: number; readonly bytes: number } | undefined;
  return {
    visit: (block, index) => {
      requireBlockFits(tape, element, block, index);
      if (decode && notTrack === undefined && !isTrackImage(tape, block, index)) notTrack = { index, bytes: block.length };
    },
    settle: (check) => {
      if (check.ok && notTrack !== undefined) {
        throw blockError(tape, element, notTrack.index, notTrack.bytes, 'not a track image');
      }
    },
  };
}

/**
 * An FBA element's tape blocks hold exactly the blocks its labels record (the whole volume, or a
 * run): a restore writes what the blocks hold, so more would land on blocks the element does not
 * name. `check` is the element's verified pass. TapeFormatError naming the tape and element.
 */
export function requireFbaBytesMatch(tape: BackupTape, element: TapeElement, check: ElementCheck): void {
  const d = element.description;
  const count = d.kind === 'blocks' ? (d.blockCount ?? 0) : tape.source.size;
  if (check.bytes !== count * FBA_BLOCK_BYTES) {
    throw new TapeFormatError(
      `Cannot restore ${element.name} from ${tape.path}: its labels record ${count} blocks (${count * FBA_BLOCK_BYTES} bytes), its tape blocks hold ${check.bytes} bytes`,
      { path: tape.path },
    );
  }
}
