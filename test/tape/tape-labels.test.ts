/**
 * Layers: unit + golden vectors. Standard labels decode the fields `hetmap` prints for vector 07,
 * encode back to the same bytes, check their fields, and the label sequence is a state table.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { encodeEbcdic } from '../../src/base/ebcdic.js';
import { TapeLabelError } from '../../src/errors/snaptape-error.js';
import { formatLabelDate, isLabelDate } from '../../src/tape/label-date.js';
import { LABEL_TRANSITIONS, nextLabelState } from '../../src/tape/label-sequence.js';
import {
  decodeStandardLabel,
  encodeDataSetLabel1,
  encodeDataSetLabel2,
  encodeInitializedHeader,
  encodeUserLabel,
  encodeVolumeLabel,
  labelIdOf,
  userLabelText,
  type DataSetLabel1,
  type DataSetLabel2,
} from '../../src/tape/standard-labels.js';
import { TapeReader } from '../../src/tape/tape-reader.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { vectorPath } from '../harness/vectors.js';

const temp = makeTempDir();
afterAll(() => temp.cleanup());
const where = { path: 'test.aws', blockNumber: 1, offsetBytes: 86 };

function vectorBlocks(name: string): Buffer[] {
  const reader = TapeReader.open(vectorPath(name, temp.path));
  const blocks = [...reader.index.entries()].filter((e) => e.kind === 'block').map((e) => reader.readBlockData(e.blockNumber));
  reader.close();
  return blocks;
}

describe('standard labels of vector 07', () => {
  const blocks = vectorBlocks('07_tape_sl_1file.aws');
  const [vol1, hdr1, hdr2, , , , eof1, eof2] = blocks as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];

  it('decodes VOL1, HDR1, HDR2, EOF1, EOF2 as hetmap shows them', () => {
    expect(decodeStandardLabel(vol1, where)).toEqual({ labelId: 'VOL1', volser: 'TAPE01', accessibility: '', owner: 'HERCULES' });
    const label1 = decodeStandardLabel(hdr1, where) as DataSetLabel1;
    expect(label1).toMatchObject({
      labelId: 'HDR1',
      dsid: 'TEST.TAPE.FB80',
      dsSerial: 'TAPE01',
      volumeSequence: 1,
      fileSequence: 1,
      generation: '',
      creationDate: '026325',
      expirationDate: '000000',
      security: '0',
      blockCount: 0,
      systemCode: 'IBM OS/VS 370',
    });
    expect((decodeStandardLabel(eof1, where) as DataSetLabel1).blockCount).toBe(3);
    const label2 = decodeStandardLabel(hdr2, where) as DataSetLabel2;
    expect(label2).toMatchObject({
      labelId: 'HDR2',
      recordFormat: 'F',
      blockLengthBytes: 800,
      recordLengthBytes: 80,
      dataSetPosition: '0',
      jobStepId: 'TESTJOB /STEP1',
      blockAttribute: 'B',
    });
    expect(decodeStandardLabel(eof2, where)).toEqual({ ...label2, labelId: 'EOF2' });
  });

  it('encodes the same 80 bytes back from the decoded fields', () => {
    expect(encodeVolumeLabel({ volser: 'TAPE01', accessibility: '', owner: 'HERCULES' }).equals(vol1)).toBe(true);
    expect(encodeDataSetLabel1(decodeStandardLabel(hdr1, where) as DataSetLabel1).equals(hdr1)).toBe(true);
    expect(encodeDataSetLabel1(decodeStandardLabel(eof1, where) as DataSetLabel1).equals(eof1)).toBe(true);
    expect(encodeDataSetLabel2(decodeStandardLabel(hdr2, where) as DataSetLabel2).equals(hdr2)).toBe(true);
  });

  it('builds the IEHINITT dummy HDR1 of vector 05', () => {
    const blocks05 = vectorBlocks('05_tape_sl_hetinit.aws');
    expect(encodeInitializedHeader().equals(blocks05[1] ?? Buffer.alloc(0))).toBe(true);
  });
});

describe('label fields', () => {
  const base: DataSetLabel1 = {
    labelId: 'EOF1',
    dsid: 'A.B',
    dsSerial: 'T00001',
    volumeSequence: 1,
    fileSequence: 2,
    generation: '',
    version: '',
    creationDate: '026001',
    expirationDate: '000000',
    security: '0',
    blockCount: 1_234_567,
    systemCode: 'IBM OS/VS 370',
  };

  it('carries block counts of a million and more in columns 77-80', () => {
    const bytes = encodeDataSetLabel1(base);
    expect(bytes.subarray(54, 60).equals(encodeEbcdic('234567'))).toBe(true);
    expect(bytes.subarray(76, 80).equals(encodeEbcdic('0001'))).toBe(true);
    expect((decodeStandardLabel(bytes, where) as DataSetLabel1).blockCount).toBe(1_234_567);
  });

  it('uses the large block length columns above 32760', () => {
    const label2: DataSetLabel2 = {
      labelId: 'HDR2',
      recordFormat: 'U',
      blockLengthBytes: 56_832,
      recordLengthBytes: 0,
      density: '',
      dataSetPosition: '0',
      jobStepId: 'J/S',
      recordingTechnique: '',
      controlCharacter: '',
      blockAttribute: '',
      deviceSerial: '',
      checkpointId: '',
    };
    const bytes = encodeDataSetLabel2(label2);
    expect(bytes.subarray(5, 10).equals(encodeEbcdic('00000'))).toBe(true);
    expect(bytes.subarray(70, 80).equals(encodeEbcdic('0000056832'))).toBe(true);
    expect(decodeStandardLabel(bytes, where)).toEqual(label2);
  });

  it('carries user labels UHLn / UTLn with 76 bytes of user data', () => {
    const bytes = encodeUserLabel({ labelId: 'UTL', number: 1, userData: userLabelText('SHA256=00ff') });
    expect(labelIdOf(bytes)).toBe('UTL1');
    const label = decodeStandardLabel(bytes, where);
    expect(label.labelId).toBe('UTL');
    expect(label.labelId === 'UTL' && label.userData.equals(userLabelText('SHA256=00ff'))).toBe(true);
  });

  it('rejects a non-digit block count with the field, block number and offset', () => {
    const bytes = encodeDataSetLabel1(base);
    encodeEbcdic('00X003').copy(bytes, 54);
    expect(() => decodeStandardLabel(bytes, where)).toThrow(TapeLabelError);
    expect(() => decodeStandardLabel(bytes, where)).toThrow(
      /Cannot read label EOF1 at block 1, byte offset 86 of test\.aws: field blockCountLow \(columns 55-60\) is "00X003"/,
    );
  });

  it('rejects an unknown record format and a bad date', () => {
    const label2 = encodeDataSetLabel2({
      labelId: 'HDR2',
      recordFormat: 'F',
      blockLengthBytes: 800,
      recordLengthBytes: 80,
      density: '',
      dataSetPosition: '0',
      jobStepId: '',
      recordingTechnique: '',
      controlCharacter: '',
      blockAttribute: 'B',
      deviceSerial: '',
      checkpointId: '',
    });
    encodeEbcdic('Q').copy(label2, 4);
    expect(() => decodeStandardLabel(label2, where)).toThrow(/field recordFormat/);
    expect(() => decodeStandardLabel(encodeDataSetLabel1({ ...base, creationDate: '026400' }), where)).toThrow(/field creationDate/);
  });

  it('formats cyyddd dates', () => {
    expect(formatLabelDate(new Date(Date.UTC(2026, 10, 21)))).toBe('026325');
    expect(formatLabelDate(new Date(Date.UTC(1999, 0, 1)))).toBe(' 99001');
    expect(formatLabelDate(new Date(Date.UTC(2101, 11, 31)))).toBe('101365');
    expect(isLabelDate('000000')).toBe(true);
    expect(isLabelDate('0263a5')).toBe(false);
  });
});

describe('label sequence state table', () => {
  it('accepts VOL1 HDR1 HDR2 UHL TM data TM EOF1 EOF2 UTL TM TM', () => {
    const events = [
      'VOL1',
      'HDR1',
      'HDR2',
      'UHL',
      'TM',
      'data',
      'data',
      'TM',
      'EOF1',
      'EOF2',
      'UTL',
      'TM',
      'HDR1',
      'HDR2',
      'TM',
      'TM',
      'EOF1',
      'EOF2',
      'TM',
      'TM',
    ] as const;
    let state = 'start' as Parameters<typeof nextLabelState>[0];
    for (const event of events) state = nextLabelState(state, event, event, where);
    expect(state).toBe('end-of-volume');
  });

  it('rejects a missing tapemark after the trailer labels, naming block and offset', () => {
    expect(() => nextLabelState('trailer-end', 'end', 'the end of the file', where)).toThrow(
      /expected HDR1 or a tapemark in state trailer-end, found the end of the file at block 1, byte offset 86/,
    );
    expect(() => nextLabelState('data-end', 'TM', 'a tapemark', where)).toThrow(TapeLabelError);
  });

  it('every target state is a state of the table', () => {
    const states = new Set(Object.keys(LABEL_TRANSITIONS));
    for (const row of Object.values(LABEL_TRANSITIONS)) for (const next of Object.values(row)) expect(states.has(next)).toBe(true);
  });
});
