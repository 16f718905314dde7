/**
 * The field tables of the IBM standard tape labels (native-layout/tape-*.md):
 * VOL1, data set label 1 (HDR1/EOF1/EOV1), data set label 2 (HDR2/EOF2/EOV2) and the user labels
 * (UHL1..8 / UTL1..8). Every label is an 80-byte block of EBCDIC (CP037) characters; numbers are
 * EBCDIC decimal digits, never binary, so there is no byte order.
 *
 * Invariant: each layout covers all 80 bytes, reserved ranges included as named fields, so the
 * native-layout pages list every column; reserved bytes are EBCDIC blanks (0x40) when we write them.
 */
import { defineLayout, type FieldKind, type Layout } from '../base/field-table.js';

/** Every standard label is one 80-byte block. */
export const LABEL_BYTES = 80;
/** Blank fill of reserved columns. */
const EBCDIC_BLANK = 0x40;

interface Column {
  readonly name: string;
  readonly length: number;
  readonly kind: FieldKind;
  readonly description: string;
}

/** Lays columns out one after the other from offset 0 so no offset is typed twice. */
function labelLayout(name: string, columns: readonly Column[]): Layout {
  let offset = 0;
  const fields = columns.map((column) => {
    const spec = { ...column, offset };
    offset += column.length;
    return spec;
  });
  const layout = defineLayout({ name, size: LABEL_BYTES, fill: EBCDIC_BLANK, fields });
  if (offset !== LABEL_BYTES) throw new Error(`${name} columns cover ${offset} bytes, not ${LABEL_BYTES}`);
  return layout;
}

export const VOL1_LAYOUT = labelLayout('tape-vol1', [
  { name: 'labelId', length: 4, kind: 'ebcdic', description: '"VOL1"' },
  { name: 'volser', length: 6, kind: 'ebcdic', description: 'volume serial number' },
  { name: 'accessibility', length: 1, kind: 'ebcdic', description: 'volume accessibility (blank = unrestricted)' },
  { name: 'reserved1', length: 30, kind: 'ebcdic', description: 'reserved, blank (Hercules calls column 36 "IDRC")' },
  { name: 'owner', length: 10, kind: 'ebcdic', description: 'owner name or code' },
  { name: 'reserved2', length: 29, kind: 'ebcdic', description: 'reserved, blank' },
]);

export const DATA_SET_LABEL_1_LAYOUT = labelLayout('tape-data-set-label-1', [
  { name: 'labelId', length: 4, kind: 'ebcdic', description: '"HDR1", "EOF1" or "EOV1"' },
  { name: 'dsid', length: 17, kind: 'ebcdic', description: 'data set identifier: rightmost 17 characters of the data set name' },
  { name: 'dsSerial', length: 6, kind: 'ebcdic', description: 'data set serial: volser of the first volume' },
  { name: 'volumeSequence', length: 4, kind: 'digits', description: 'volume sequence number, from 0001' },
  { name: 'fileSequence', length: 4, kind: 'digits', description: 'data set (file) sequence number, from 0001' },
  { name: 'generation', length: 4, kind: 'ebcdic', description: 'generation number (digits) or blank' },
  { name: 'version', length: 2, kind: 'ebcdic', description: 'version of generation (digits) or blank' },
  { name: 'creationDate', length: 6, kind: 'ebcdic', description: 'creation date cyyddd (c blank = 19xx, 0 = 20xx, 1 = 21xx)' },
  { name: 'expirationDate', length: 6, kind: 'ebcdic', description: 'expiration date cyyddd, "000000" = none' },
  { name: 'security', length: 1, kind: 'ebcdic', description: 'data set security, "0" = none' },
  { name: 'blockCountLow', length: 6, kind: 'digits', description: 'block count mod 10^6: 0 in HDR1, data blocks on this volume in EOF1/EOV1' },
  { name: 'systemCode', length: 13, kind: 'ebcdic', description: 'system code, e.g. "IBM OS/VS 370"' },
  { name: 'reserved', length: 3, kind: 'ebcdic', description: 'reserved, blank' },
  { name: 'blockCountHigh', length: 4, kind: 'ebcdic', description: 'block count div 10^6 as digits; blank when below 10^6' },
]);

export const DATA_SET_LABEL_2_LAYOUT = labelLayout('tape-data-set-label-2', [
  { name: 'labelId', length: 4, kind: 'ebcdic', description: '"HDR2", "EOF2" or "EOV2"' },
  { name: 'recordFormat', length: 1, kind: 'ebcdic', description: 'record format F, V or U' },
  { name: 'blockLength', length: 5, kind: 'digits', description: 'maximum block length; 00000 when above 32760 (see largeBlockLength)' },
  { name: 'recordLength', length: 5, kind: 'digits', description: 'record length (00000 for U)' },
  { name: 'density', length: 1, kind: 'ebcdic', description: 'tape density code, blank for virtual tape' },
  { name: 'dataSetPosition', length: 1, kind: 'ebcdic', description: '"0" first volume of the data set, "1" a continuation volume' },
  { name: 'jobStepId', length: 17, kind: 'ebcdic', description: 'job name (8), "/", step name (8)' },
  { name: 'recordingTechnique', length: 2, kind: 'ebcdic', description: 'tape recording technique, blank (or "P " for IDRC)' },
  { name: 'controlCharacter', length: 1, kind: 'ebcdic', description: 'printer control character: "A" ASA, "M" machine, blank none' },
  { name: 'reserved1', length: 1, kind: 'ebcdic', description: 'reserved, blank' },
  { name: 'blockAttribute', length: 1, kind: 'ebcdic', description: '"B" blocked, "S" spanned, "R" both, blank neither' },
  { name: 'reserved2', length: 2, kind: 'ebcdic', description: 'reserved, blank' },
  { name: 'deviceSerial', length: 6, kind: 'ebcdic', description: 'serial of the device that wrote the data set, blank' },
  { name: 'checkpointId', length: 1, kind: 'ebcdic', description: 'checkpoint data set identifier, blank' },
  { name: 'reserved3', length: 22, kind: 'ebcdic', description: 'reserved, blank' },
  { name: 'largeBlockLength', length: 10, kind: 'ebcdic', description: 'block length as 10 digits when above 32760, else blank' },
]);

export const USER_LABEL_LAYOUT = labelLayout('tape-user-label', [
  { name: 'labelId', length: 4, kind: 'ebcdic', description: '"UHL1".."UHL8" (user header) or "UTL1".."UTL8" (user trailer)' },
  { name: 'userData', length: 76, kind: 'bytes', description: 'user data, any bytes (snaptape writes EBCDIC text, blank padded)' },
]);

export const TAPE_LABEL_LAYOUTS: readonly Layout[] = [VOL1_LAYOUT, DATA_SET_LABEL_1_LAYOUT, DATA_SET_LABEL_2_LAYOUT, USER_LABEL_LAYOUT];
