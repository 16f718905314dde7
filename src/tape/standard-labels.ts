/**
 * Typed IBM standard tape labels, built and parsed only through the field tables of
 * label-layouts.ts (native-layout/tape-*.md): VOL1, HDR1/EOF1/EOV1, HDR2/EOF2/EOV2, UHLn/UTLn.
 *
 * Invariants:
 * - decoding checks every field that has a rule (digits where digits are required, dates, codes)
 *   and raises a TapeLabelError naming the label, field, block number and byte offset;
 * - text values are decoded with trailing blanks removed and encoded blank padded;
 * - block counts of 10^6 and more use the high-order columns 77–80, block lengths above 32760 the
 *   large-block-length columns 71–80.
 */
import { assert, assertInteger } from '../base/assert.js';
import { decodeEbcdic, encodeEbcdicPadded } from '../base/ebcdic.js';
import { decodeFields, encodeFields, field, str, bytes, type FieldValue, type Layout } from '../base/field-table.js';
import { TapeLabelError } from '../errors/snaptape-error.js';
import { isLabelDate } from './label-date.js';
import { DATA_SET_LABEL_1_LAYOUT, DATA_SET_LABEL_2_LAYOUT, LABEL_BYTES, USER_LABEL_LAYOUT, VOL1_LAYOUT } from './label-layouts.js';

export type DataSetLabel1Id = 'HDR1' | 'EOF1' | 'EOV1';
export type DataSetLabel2Id = 'HDR2' | 'EOF2' | 'EOV2';
export type UserLabelKind = 'UHL' | 'UTL';
export type RecordFormatCode = 'F' | 'V' | 'U';
export type BlockAttribute = '' | 'B' | 'S' | 'R';

export interface VolumeLabel {
  readonly labelId: 'VOL1';
  readonly volser: string;
  readonly accessibility: string;
  readonly owner: string;
}

export interface DataSetLabel1 {
  readonly labelId: DataSetLabel1Id;
  readonly dsid: string;
  readonly dsSerial: string;
  readonly volumeSequence: number;
  readonly fileSequence: number;
  readonly generation: string;
  readonly version: string;
  readonly creationDate: string;
  readonly expirationDate: string;
  readonly security: string;
  readonly blockCount: number;
  readonly systemCode: string;
}

export interface DataSetLabel2 {
  readonly labelId: DataSetLabel2Id;
  readonly recordFormat: RecordFormatCode;
  readonly blockLengthBytes: number;
  readonly recordLengthBytes: number;
  readonly density: string;
  readonly dataSetPosition: string;
  readonly jobStepId: string;
  readonly recordingTechnique: string;
  readonly controlCharacter: string;
  readonly blockAttribute: BlockAttribute;
  readonly deviceSerial: string;
  readonly checkpointId: string;
}

export interface UserLabel {
  readonly labelId: UserLabelKind;
  /** 1..8 */
  readonly number: number;
  /** Exactly 76 bytes. */
  readonly userData: Buffer;
}

export type StandardLabel = VolumeLabel | DataSetLabel1 | DataSetLabel2 | UserLabel;

export interface LabelLocation {
  readonly path: string;
  readonly blockNumber: number;
  readonly offsetBytes: number;
}

/** Largest block length the 5-column field holds; above it columns 71–80 are used. */
export const MAX_SHORT_BLOCK_LENGTH = 32760;
const BLOCK_COUNT_LOW_MODULUS = 1_000_000;
export const USER_LABEL_DATA_BYTES = field(USER_LABEL_LAYOUT, 'userData').length;
/** UHL1..UHL8 and UTL1..UTL8. */
export const MAX_USER_LABELS = 8;

const LABEL_ID_PATTERN = /^(VOL1|HDR1|HDR2|EOF1|EOF2|EOV1|EOV2|UHL[1-8]|UTL[1-8])$/;

/** The label identifier of an 80-byte block ("HDR1", "UTL3", …), or undefined if it is not one. */
export function labelIdOf(block: Uint8Array): string | undefined {
  if (block.length !== LABEL_BYTES) return undefined;
  const id = decodeEbcdic(block.subarray(0, 4));
  return LABEL_ID_PATTERN.test(id) ? id : undefined;
}

type FieldRule = 'digits' | 'digits-or-blank' | 'date' | readonly string[];

/** Which fields are checked on decode, and how (the rest are free text). */
const FIELD_RULES: ReadonlyMap<Layout, Readonly<Record<string, FieldRule>>> = new Map<Layout, Readonly<Record<string, FieldRule>>>([
  [
    DATA_SET_LABEL_1_LAYOUT,
    {
      volumeSequence: 'digits',
      fileSequence: 'digits',
      generation: 'digits-or-blank',
      version: 'digits-or-blank',
      creationDate: 'date',
      expirationDate: 'date',
      blockCountLow: 'digits',
      blockCountHigh: 'digits-or-blank',
    },
  ],
  [
    DATA_SET_LABEL_2_LAYOUT,
    {
      recordFormat: ['F', 'V', 'U'],
      blockLength: 'digits',
      recordLength: 'digits',
      blockAttribute: ['', 'B', 'S', 'R'],
      largeBlockLength: 'digits-or-blank',
    },
  ],
]);

function ruleHolds(rule: FieldRule, raw: string): boolean {
  if (rule === 'digits') return /^\d+$/.test(raw);
  if (rule === 'digits-or-blank') return /^\d+$/.test(raw) || raw.trim() === '';
  if (rule === 'date') return isLabelDate(raw);
  return rule.includes(raw.trim());
}

function decodeChecked(layout: Layout, block: Uint8Array, labelId: string, where: LabelLocation): Record<string, FieldValue> {
  if (block.length !== LABEL_BYTES) {
    throw new TapeLabelError(
      `Cannot read label ${labelId} at block ${where.blockNumber}, byte offset ${where.offsetBytes} of ${where.path}: it is ${block.length} bytes, not ${LABEL_BYTES}`,
      { ...where },
    );
  }
  const rules = FIELD_RULES.get(layout) ?? {};
  for (const [name, rule] of Object.entries(rules)) {
    const spec = field(layout, name);
    const raw = decodeEbcdic(block.subarray(spec.offset, spec.offset + spec.length));
    if (!ruleHolds(rule, raw)) {
      const expected = typeof rule === 'string' ? rule : `one of ${rule.map((r) => `"${r || ' '}"`).join(', ')}`;
      throw new TapeLabelError(
        `Cannot read label ${labelId} at block ${where.blockNumber}, byte offset ${where.offsetBytes} of ${where.path}: field ${name} (columns ${spec.offset + 1}-${spec.offset + spec.length}) is "${raw}", expected ${expected}`,
        { ...where, labelId, field: name },
      );
    }
  }
  return decodeFields(layout, block);
}

function optionalNumber(text: string): number {
  return text.trim() === '' ? 0 : Number(text);
}

/** Parses an 80-byte block whose identifier is a known label id; checks its fields. */
export function decodeStandardLabel(block: Uint8Array, where: LabelLocation): StandardLabel {
  const labelId = labelIdOf(block);
  assert(labelId !== undefined, `block ${where.blockNumber} is a label`);
  const prefix = labelId.slice(0, 3);
  if (labelId === 'VOL1') {
    const v = decodeChecked(VOL1_LAYOUT, block, labelId, where);
    return { labelId, volser: str(v, 'volser'), accessibility: str(v, 'accessibility'), owner: str(v, 'owner') };
  }
  if (prefix === 'UHL' || prefix === 'UTL') {
    const v = decodeChecked(USER_LABEL_LAYOUT, block, labelId, where);
    return { labelId: prefix, number: Number(labelId.slice(3)), userData: bytes(v, 'userData') };
  }
  if (labelId.endsWith('1')) {
    const v = decodeChecked(DATA_SET_LABEL_1_LAYOUT, block, labelId, where);
    return {
      labelId: labelId as DataSetLabel1Id,
      dsid: str(v, 'dsid'),
      dsSerial: str(v, 'dsSerial'),
      volumeSequence: Number(str(v, 'volumeSequence')),
      fileSequence: Number(str(v, 'fileSequence')),
      generation: str(v, 'generation'),
      version: str(v, 'version'),
      creationDate: str(v, 'creationDate'),
      expirationDate: str(v, 'expirationDate'),
      security: str(v, 'security'),
      blockCount: optionalNumber(str(v, 'blockCountHigh')) * BLOCK_COUNT_LOW_MODULUS + Number(str(v, 'blockCountLow')),
      systemCode: str(v, 'systemCode'),
    };
  }
  const v = decodeChecked(DATA_SET_LABEL_2_LAYOUT, block, labelId, where);
  const shortLength = Number(str(v, 'blockLength'));
  const largeLength = optionalNumber(str(v, 'largeBlockLength'));
  return {
    labelId: labelId as DataSetLabel2Id,
    recordFormat: str(v, 'recordFormat') as RecordFormatCode,
    blockLengthBytes: shortLength === 0 && largeLength > 0 ? largeLength : shortLength,
    recordLengthBytes: Number(str(v, 'recordLength')),
    density: str(v, 'density'),
    dataSetPosition: str(v, 'dataSetPosition'),
    jobStepId: str(v, 'jobStepId'),
    recordingTechnique: str(v, 'recordingTechnique'),
    controlCharacter: str(v, 'controlCharacter'),
    blockAttribute: str(v, 'blockAttribute') as BlockAttribute,
    deviceSerial: str(v, 'deviceSerial'),
    checkpointId: str(v, 'checkpointId'),
  };
}

export function encodeVolumeLabel(label: Omit<VolumeLabel, 'labelId'>): Buffer {
  return encodeFields(VOL1_LAYOUT, { labelId: 'VOL1', volser: label.volser, accessibility: label.accessibility, owner: label.owner });
}

export function encodeDataSetLabel1(label: DataSetLabel1): Buffer {
  assertInteger(label.blockCount, 'blockCount', 0, 9_999_999_999);
  const high = Math.floor(label.blockCount / BLOCK_COUNT_LOW_MODULUS);
  return encodeFields(DATA_SET_LABEL_1_LAYOUT, {
    labelId: label.labelId,
    dsid: label.dsid,
    dsSerial: label.dsSerial,
    volumeSequence: label.volumeSequence,
    fileSequence: label.fileSequence,
    generation: label.generation,
    version: label.version,
    creationDate: label.creationDate,
    expirationDate: label.expirationDate,
    security: label.security,
    blockCountLow: label.blockCount % BLOCK_COUNT_LOW_MODULUS,
    systemCode: label.systemCode,
    blockCountHigh: high === 0 ? '' : String(high).padStart(4, '0'),
  });
}

export function encodeDataSetLabel2(label: DataSetLabel2): Buffer {
  assertInteger(label.blockLengthBytes, 'blockLengthBytes', 0, 9_999_999_999);
  const large = label.blockLengthBytes > MAX_SHORT_BLOCK_LENGTH;
  return encodeFields(DATA_SET_LABEL_2_LAYOUT, {
    labelId: label.labelId,
    recordFormat: label.recordFormat,
    blockLength: large ? 0 : label.blockLengthBytes,
    recordLength: label.recordLengthBytes,
    density: label.density,
    dataSetPosition: label.dataSetPosition,
    jobStepId: label.jobStepId,
    recordingTechnique: label.recordingTechnique,
    controlCharacter: label.controlCharacter,
    blockAttribute: label.blockAttribute,
    deviceSerial: label.deviceSerial,
    checkpointId: label.checkpointId,
    largeBlockLength: large ? String(label.blockLengthBytes).padStart(10, '0') : '',
  });
}

/** A user label (UHLn / UTLn) carrying up to 76 bytes of user data, blank padded. */
export function encodeUserLabel(label: { readonly labelId: UserLabelKind; readonly number: number; readonly userData: Uint8Array }): Buffer {
  assertInteger(label.number, 'user label number', 1, MAX_USER_LABELS);
  assert(label.userData.length <= USER_LABEL_DATA_BYTES, `user label data fits ${USER_LABEL_DATA_BYTES} bytes`);
  const userData = Buffer.alloc(USER_LABEL_DATA_BYTES, USER_LABEL_LAYOUT.fill);
  Buffer.from(label.userData).copy(userData);
  return encodeFields(USER_LABEL_LAYOUT, { labelId: `${label.labelId}${label.number}`, userData });
}

/** User data from text (encoded as EBCDIC, blank padded to 76 bytes). */
export function userLabelText(text: string): Buffer {
  assert(text.length <= USER_LABEL_DATA_BYTES, `user label text fits ${USER_LABEL_DATA_BYTES} characters`);
  return encodeEbcdicPadded(text, USER_LABEL_DATA_BYTES);
}

/**
 * The dummy HDR1 that IEHINITT and `hetinit` write after VOL1 on an empty tape: "HDR1" and every
 * other column EBCDIC '0' (vector 05).
 */
export function encodeInitializedHeader(): Buffer {
  const values: Record<string, string> = {};
  for (const spec of DATA_SET_LABEL_1_LAYOUT.fields) values[spec.name] = spec.name === 'labelId' ? 'HDR1' : '0'.repeat(spec.length);
  return encodeFields(DATA_SET_LABEL_1_LAYOUT, values);
}
