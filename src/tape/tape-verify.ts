/**
 * Checks a written tape against its plan by reading it back sequentially from the load point:
 * the reader's index re-checks every curlen/prvlen link and flag (tape-index.ts), each entry must
 * sit at its planned offset with its planned length, and on an SL tape the label sequence must
 * parse with EOF1 block counts equal to the data blocks of each data set.
 *
 * With `indexFromPlan` the index is made from the plan, and every header (data blocks, labels,
 * tapemarks) is read at its planned offset and compared with the planned bytes: one 6-byte read per
 * entry and no index walk (a backup's finish, whose tape was just written and is still cached).
 *
 * Invariant: read-only; a mismatch is a VerifyError naming the block number and byte offset.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readFully } from '../base/file-io.js';
import { translateIoError } from '../errors/io-error.js';
import { VerifyError } from '../errors/snaptape-error.js';
import { AWS_HEADER_BYTES, blockHeaderBytes, tapemarkHeaderBytes } from './aws-block-header.js';
import { readTapeContents } from './tape-contents.js';
import { tapeIndexFromRows, type TapeIndexRow } from './tape-index.js';
import { plannedEntries, type TapePlan } from './tape-plan.js';
import { TapeReader } from './tape-reader.js';
import { WHOLE_FILE, type TapeRegion } from './tape-region.js';

export interface TapeVerification {
  readonly sizeBytes: number;
  readonly entryCount: number;
  readonly dataBlockCount: number;
  readonly dataSetCount: number;
}

function mismatch(path: string, blockNumber: number, offsetBytes: number, state: string): VerifyError {
  return new VerifyError(`Cannot verify tape ${path}: block ${blockNumber} at byte offset ${offsetBytes} ${state}`, { path, blockNumber, offsetBytes });
}

/**
 * Throws the VerifyError of a chunk header read back from the tape (`actual`) that is not the one
 * planned (`planned`, as blockHeaderBytes or tapemarkHeaderBytes make it), naming the block.
 */
export function checkPlannedHeader(path: string, actual: Buffer, planned: Buffer, blockNumber: number, offsetBytes: number): void {
  if (!actual.equals(planned)) throw mismatch(path, blockNumber, offsetBytes, `has the header ${actual.toString('hex')}, planned ${planned.toString('hex')}`);
}

function checkEntries(reader: TapeReader, plan: TapePlan): number {
  let blockNumber = 0;
  let dataBlockCount = 0;
  for (const planned of plannedEntries(plan)) {
    const actual = reader.index.entryAt(blockNumber);
    const offsetBytes =
      planned.kind === 'tapemark' ? planned.tapemark.offsetBytes : planned.kind === 'label' ? planned.label.offsetBytes : planned.block.offsetBytes;
    const lengthBytes = planned.kind === 'tapemark' ? 0 : planned.kind === 'label' ? planned.label.lengthBytes : planned.block.lengthBytes;
    const kind = planned.kind === 'tapemark' ? 'tapemark' : 'block';
    if (actual === undefined) throw mismatch(reader.path, blockNumber, offsetBytes, `is missing: the tape has only ${blockNumber} blocks and tapemarks`);
    if (actual.kind !== kind || actual.offsetBytes !== offsetBytes || actual.storedBytes !== lengthBytes) {
      throw mismatch(
        reader.path,
        blockNumber,
        actual.offsetBytes,
        `is a ${actual.kind} of ${actual.storedBytes} bytes, planned a ${kind} of ${lengthBytes} bytes at ${offsetBytes}`,
      );
    }
    if (planned.kind === 'data') dataBlockCount += 1;
    blockNumber += 1;
  }
  if (blockNumber !== reader.entryCount) {
    const extra = reader.entry(blockNumber);
    throw mismatch(reader.path, blockNumber, extra.offsetBytes, `is not in the plan (planned ${blockNumber} blocks and tapemarks)`);
  }
  return dataBlockCount;
}

export interface VerifyOptions {
  /** Make the index from the plan, each header checked at its planned offset (openCheckedFrame). */
  readonly indexFromPlan?: boolean;
  /** With `indexFromPlan`: every data block's header was read back and checked already (a backup's digest pass). */
  readonly dataHeadersChecked?: boolean;
}

/**
 * The index the plan promises, every header of it (data blocks, labels, tapemarks) checked on the
 * tape; the data blocks' skipped where `dataHeadersChecked` says they were checked.
 */
function openCheckedFrame(path: string, plan: TapePlan, region: TapeRegion, dataHeadersChecked: boolean): TapeReader {
  const rows: TapeIndexRow[] = [];
  const frame: Array<{ blockNumber: number; offsetBytes: number; header: Buffer }> = [];
  for (const planned of plannedEntries(plan)) {
    if (planned.kind === 'tapemark') {
      frame.push({ blockNumber: rows.length, offsetBytes: planned.tapemark.offsetBytes, header: tapemarkHeaderBytes(planned.tapemark.previousChunkBytes) });
      rows.push([0, 1, 0x80, 0]);
      continue;
    }
    const block = planned.kind === 'label' ? planned.label : planned.block;
    if (planned.kind === 'label' || !dataHeadersChecked)
      frame.push({ blockNumber: rows.length, offsetBytes: block.offsetBytes, header: blockHeaderBytes(block) });
    rows.push([block.lengthBytes, 1, 0, block.lengthBytes]);
  }
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw translateIoError(cause, 'open tape', path);
  }
  try {
    const fileBytes = fstatSync(fd).size - region.baseOffsetBytes;
    if (region.lengthBytes === undefined && fileBytes !== plan.sizeBytes) {
      throw new VerifyError(`Cannot verify tape ${path}: it is ${fileBytes} bytes, planned ${plan.sizeBytes}`, { path });
    }
    const header = Buffer.alloc(AWS_HEADER_BYTES);
    for (const entry of frame) {
      readFully(fd, header, region.baseOffsetBytes + entry.offsetBytes, path, 'the tape');
      checkPlannedHeader(path, header, entry.header, entry.blockNumber, entry.offsetBytes);
    }
  } finally {
    closeSync(fd);
  }
  return TapeReader.openIndexed(path, tapeIndexFromRows(path, plan.sizeBytes, rows), region.baseOffsetBytes);
}

/** Re-reads the tape at `path` (or in a region of it) and checks it is exactly the planned tape. */
export function verifyTapeAgainstPlan(path: string, plan: TapePlan, region: TapeRegion = WHOLE_FILE, options: VerifyOptions = {}): TapeVerification {
  const reader = options.indexFromPlan ? openCheckedFrame(path, plan, region, options.dataHeadersChecked ?? false) : TapeReader.open(path, region);
  try {
    if (reader.index.sizeBytes !== plan.sizeBytes) {
      throw new VerifyError(`Cannot verify tape ${path}: it is ${reader.index.sizeBytes} bytes, planned ${plan.sizeBytes}`, { path });
    }
    const dataBlockCount = checkEntries(reader, plan);
    const contents = readTapeContents(reader);
    if (contents.dataSets.length !== plan.files.length) {
      throw new VerifyError(`Cannot verify tape ${path}: it holds ${contents.dataSets.length} data sets, planned ${plan.files.length}`, { path });
    }
    plan.files.forEach((file, i) => {
      const found = contents.dataSets[i];
      if (found?.dataBlockCount !== file.spec.dataBlockLengths.length || (plan.labelled && found.trailer1?.blockCount !== found.dataBlockCount)) {
        throw new VerifyError(
          `Cannot verify tape ${path}: data set ${file.fileSequence} holds ${found?.dataBlockCount} data blocks, planned ${file.spec.dataBlockLengths.length}`,
          { path },
        );
      }
    });
    return { sizeBytes: reader.index.sizeBytes, entryCount: reader.entryCount, dataBlockCount, dataSetCount: contents.dataSets.length };
  } finally {
    reader.close();
  }
}
