/**
 * One data set to be written to tape, and the standard labels that describe it (native-layout/tape-data-set-label-1.md,
 * 5.4). The tape plan and the sequential appender both build their HDR1/HDR2/EOF1/EOF2 here, so a
 * planned tape and an appended one carry the same labels for the same data set.
 *
 * Invariants: dsid is the rightmost 17 characters of the data set name; HDR1 has block count 0 and
 * EOF1 the number of data blocks; HDR2 and EOF2 are identical apart from their label id.
 */
import { assert, assertInteger } from '../base/assert.js';
import { MAX_BLOCK_BYTES } from './aws-block-header.js';
import { formatLabelDate, NO_LABEL_DATE } from './label-date.js';
import {
  encodeDataSetLabel1,
  encodeDataSetLabel2,
  MAX_USER_LABELS,
  USER_LABEL_DATA_BYTES,
  type BlockAttribute,
  type DataSetLabel1,
  type DataSetLabel2,
  type RecordFormatCode,
} from './standard-labels.js';

export type RecordFormat = 'F' | 'FB' | 'V' | 'VB' | 'U';

export interface TapeFileSpec {
  readonly dsname: string;
  readonly recordFormat: RecordFormat;
  /** 0 for RECFM U. */
  readonly recordLengthBytes: number;
  readonly blockSizeBytes: number;
  /** Length of every data block, in order (each 1..65535). */
  readonly dataBlockLengths: readonly number[];
  /** User data of UHL1..UHLn (each at most 76 bytes, blank padded), known when the tape is planned. */
  readonly userHeaderLabels?: readonly Uint8Array[];
  /** How many UTL labels follow EOF2; their data may be given now or when the tape is finished. */
  readonly userTrailerLabelCount?: number;
  readonly userTrailerLabels?: readonly Uint8Array[];
  /** cyyddd; defaults to today (UTC). */
  readonly creationDate?: string;
  /** "JOBNAME /STEPNAME" (17 columns). */
  readonly jobStepId?: string;
}

/** HDR1 column 5–21 holds the rightmost 17 characters of the data set name. */
export const DSID_LENGTH = 17;
export const SYSTEM_CODE = 'IBM OS/VS 370';
export const DEFAULT_JOB_STEP_ID = 'SNAPTAPE/TAPE';

const RECORD_FORMAT_CODES: Readonly<Record<RecordFormat, { readonly code: RecordFormatCode; readonly attribute: BlockAttribute }>> = {
  F: { code: 'F', attribute: '' },
  FB: { code: 'F', attribute: 'B' },
  V: { code: 'V', attribute: '' },
  VB: { code: 'V', attribute: 'B' },
  U: { code: 'U', attribute: '' },
};

export function dsidOf(dsname: string): string {
  return dsname.slice(-DSID_LENGTH);
}

/** The RECFM a HDR2 describes ("FB" from 'F' + 'B'). */
export function recordFormatOf(label: Pick<DataSetLabel2, 'recordFormat' | 'blockAttribute'>): string {
  return `${label.recordFormat}${label.blockAttribute}`;
}

export function userTrailerLabelCountOf(spec: TapeFileSpec): number {
  return spec.userTrailerLabelCount ?? spec.userTrailerLabels?.length ?? 0;
}

/** Programmer-error checks of a spec (the CLI validates user input before it builds one). */
export function assertValidFileSpec(spec: TapeFileSpec): void {
  assert(spec.dsname.length > 0, 'a data set has a name');
  assertInteger(spec.blockSizeBytes, 'blockSizeBytes', 1, MAX_BLOCK_BYTES);
  assertInteger(spec.recordLengthBytes, 'recordLengthBytes', 0, spec.blockSizeBytes);
  for (const lengthBytes of spec.dataBlockLengths) assertInteger(lengthBytes, 'data block length', 1, MAX_BLOCK_BYTES);
  const headers = spec.userHeaderLabels ?? [];
  assert(headers.length <= MAX_USER_LABELS, `at most ${MAX_USER_LABELS} UHL labels`);
  for (const data of headers) assert(data.length <= USER_LABEL_DATA_BYTES, `UHL data fits ${USER_LABEL_DATA_BYTES} bytes`);
  const trailerCount = userTrailerLabelCountOf(spec);
  assertInteger(trailerCount, 'userTrailerLabelCount', 0, MAX_USER_LABELS);
  assert(spec.userTrailerLabels === undefined || spec.userTrailerLabels.length === trailerCount, 'UTL data matches the UTL count');
}

export interface FileLabels {
  readonly header1: Buffer;
  readonly header2: Buffer;
  readonly trailer1: Buffer;
  readonly trailer2: Buffer;
}

/** HDR1, HDR2, EOF1 and EOF2 of a data set, for data set sequence `fileSequence` on volume `volser`. */
export function buildFileLabels(options: {
  readonly volser: string;
  readonly spec: TapeFileSpec;
  readonly fileSequence: number;
  readonly blockCount: number;
}): FileLabels {
  const { volser, spec, fileSequence, blockCount } = options;
  const label1: Omit<DataSetLabel1, 'labelId' | 'blockCount'> = {
    dsid: dsidOf(spec.dsname),
    dsSerial: volser,
    volumeSequence: 1,
    fileSequence,
    generation: '',
    version: '',
    creationDate: spec.creationDate ?? formatLabelDate(new Date()),
    expirationDate: NO_LABEL_DATE,
    security: '0',
    systemCode: SYSTEM_CODE,
  };
  const format = RECORD_FORMAT_CODES[spec.recordFormat];
  const label2: Omit<DataSetLabel2, 'labelId'> = {
    recordFormat: format.code,
    blockLengthBytes: spec.blockSizeBytes,
    recordLengthBytes: spec.recordLengthBytes,
    density: '',
    dataSetPosition: '0',
    jobStepId: spec.jobStepId ?? DEFAULT_JOB_STEP_ID,
    recordingTechnique: '',
    controlCharacter: '',
    blockAttribute: format.attribute,
    deviceSerial: '',
    checkpointId: '',
  };
  return {
    header1: encodeDataSetLabel1({ ...label1, labelId: 'HDR1', blockCount: 0 }),
    header2: encodeDataSetLabel2({ ...label2, labelId: 'HDR2' }),
    trailer1: encodeDataSetLabel1({ ...label1, labelId: 'EOF1', blockCount }),
    trailer2: encodeDataSetLabel2({ ...label2, labelId: 'EOF2' }),
  };
}
