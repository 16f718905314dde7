/**
 * `tape put`: a host file appended to a tape as one data set. Binary input is cut into blocks as
 * RECFM says (F/FB: whole records, a short last record padded with zeros; U: blocks of up to
 * BLKSIZE); `text` input is ASCII lines made into blank-padded EBCDIC records of LRECL first.
 *
 * Invariant: DCB values are checked here, before the tape is touched (UsageError).
 */
import type { OnPhaseProgress } from '../base/phase-progress.js';
import { readFileSync } from 'node:fs';
import { translateIoError } from '../errors/io-error.js';
import { UsageError } from '../errors/snaptape-error.js';
import { MAX_BLOCK_BYTES } from './aws-block-header.js';
import { blockData, textToFixedRecords } from './fixed-records.js';
import { appendDataSet, type AppendResult } from './tape-appender.js';
import type { RecordFormat } from './tape-file-spec.js';

const RECORD_FORMATS: readonly RecordFormat[] = ['F', 'FB', 'U'];
/** Data set names: 1–44 characters of qualifiers (we keep the check loose: printable, no blanks). */
const DSNAME_PATTERN = /^[A-Z0-9@#$][A-Z0-9@#$.-]{0,43}$/;

export interface PutOptions {
  readonly dsname: string;
  readonly recordFormat: string;
  readonly recordLengthBytes: number;
  readonly blockSizeBytes: number;
  readonly text: boolean;
  /** Told the phases of the append: write, then verify (read back). */
  readonly onProgress?: OnPhaseProgress;
}

export interface PutResult extends AppendResult {
  readonly hostFile: string;
  readonly recordFormat: RecordFormat;
  readonly recordLengthBytes: number;
  readonly blockSizeBytes: number;
  readonly paddingBytes: number;
}

function checkDcb(options: PutOptions): { recordFormat: RecordFormat; recordLengthBytes: number; blockSizeBytes: number } {
  const recordFormat = options.recordFormat.toUpperCase() as RecordFormat;
  if (!RECORD_FORMATS.includes(recordFormat)) throw new UsageError(`Cannot use --recfm ${options.recordFormat}: supported are ${RECORD_FORMATS.join(', ')}`);
  const recordLengthBytes = recordFormat === 'U' ? 0 : options.recordLengthBytes;
  const blockSizeBytes = recordFormat === 'F' ? recordLengthBytes : options.blockSizeBytes;
  if (blockSizeBytes < 1 || blockSizeBytes > MAX_BLOCK_BYTES)
    throw new UsageError(`Cannot use block size ${blockSizeBytes}: it must be 1 to ${MAX_BLOCK_BYTES}`);
  if (recordFormat !== 'U' && (recordLengthBytes < 1 || recordLengthBytes > blockSizeBytes)) {
    throw new UsageError(`Cannot use LRECL ${recordLengthBytes} with BLKSIZE ${blockSizeBytes}: LRECL must be 1 to BLKSIZE`);
  }
  if (recordFormat === 'FB' && blockSizeBytes % recordLengthBytes !== 0) {
    throw new UsageError(`Cannot use BLKSIZE ${blockSizeBytes} with RECFM FB: it is not a multiple of LRECL ${recordLengthBytes}`);
  }
  if (recordFormat === 'U' && options.text) throw new UsageError('Cannot use --text with RECFM U: text is made into fixed records');
  return { recordFormat, recordLengthBytes, blockSizeBytes };
}

/** Appends a host file to a labelled tape as a new data set (HDR1/HDR2, data, EOF1/EOF2) with the given DCB. Throws UsageError for a bad data set name or DCB, TapeFormatError or TapeLabelError for a tape it cannot append to. */
export function putHostFile(tapePath: string, hostFile: string, options: PutOptions): PutResult {
  const dsname = options.dsname.toUpperCase();
  if (!DSNAME_PATTERN.test(dsname))
    throw new UsageError(`Cannot use data set name "${options.dsname}": 1 to 44 characters of A-Z, 0-9, national characters and periods`);
  const dcb = checkDcb(options);
  let raw: Buffer;
  try {
    raw = readFileSync(hostFile);
  } catch (cause) {
    throw translateIoError(cause, 'read the host file', hostFile);
  }
  const data = options.text ? textToFixedRecords(raw.toString('latin1'), dcb.recordLengthBytes, hostFile) : raw;
  const { blocks, paddingBytes } = blockData(data, dcb);
  const result = appendDataSet(tapePath, { spec: { dsname, ...dcb }, dataBlocks: blocks, onProgress: options.onProgress });
  return { ...result, hostFile, ...dcb, paddingBytes };
}
