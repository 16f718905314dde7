/**
 * Track 0 of a CKD volume: IPL1, IPL2 and the VOL1 label as R1, R2, R3, exactly as `dasdinit`
 * writes them (native-layout/disk-vol1.md). Readers find VOL1 by record number 3 and then check its key.
 */
import { decodeFields, encodeFields, bytes, str } from '../base/field-table.js';
import { encodeEbcdic } from '../base/ebcdic.js';
import { VtocError } from '../errors/snaptape-error.js';
import type { Cchhr } from '../geometry/cchh.js';
import type { NewRecord, Volume } from '../volume/volume.js';
import { DISK_VOL1_LAYOUT } from './dscb-layouts.js';
import { decodeCchhr, encodeCchhr } from './extent.js';

export const VOL1_RECORD = 3;
/** IPL1: a PSW and two CCWs that read IPL2, as dasdinit (Hercules 3.13) writes them. */
const IPL1_DATA = Buffer.from('000600000000000f' + '0300000000000001' + '0000000000000000', 'hex');
const IPL2_DATA_BYTES = 144;
export const DEFAULT_OWNER = '    HERCULES';

export interface VolumeLabel {
  readonly volser: string;
  readonly vtocPointer: Cchhr;
  readonly owner: string;
}

export function encodeVol1(label: VolumeLabel): Buffer {
  return encodeFields(DISK_VOL1_LAYOUT, {
    labelId: 'VOL1',
    volser: label.volser,
    security: 0x40,
    vtocPointer: encodeCchhr(label.vtocPointer),
    owner: label.owner,
  });
}

/** Track 0's records R1-R3: IPL1, IPL2, VOL1. */
export function trackZeroRecords(label: VolumeLabel): NewRecord[] {
  return [
    { key: encodeEbcdic('IPL1'), data: IPL1_DATA },
    { key: encodeEbcdic('IPL2'), data: Buffer.alloc(IPL2_DATA_BYTES) },
    { key: encodeEbcdic('VOL1'), data: encodeVol1(label) },
  ];
}

export function readVolumeLabel(volume: Volume): VolumeLabel {
  const track = volume.readTrack(0);
  const record = track.records.find((r) => r.record === VOL1_RECORD);
  if (!record || !record.key.equals(encodeEbcdic('VOL1')) || record.data.length < DISK_VOL1_LAYOUT.size) {
    throw new VtocError(`Cannot read the volume label of ${volume.path}: cylinder 0 head 0 has no VOL1 record R3`, { path: volume.path, track: 0 });
  }
  const f = decodeFields(DISK_VOL1_LAYOUT, record.data);
  if (str(f, 'labelId') !== 'VOL1') {
    throw new VtocError(`Cannot read the volume label of ${volume.path}: R3 on track 0 is not a VOL1 label`, { path: volume.path, track: 0 });
  }
  return { volser: str(f, 'volser'), vtocPointer: decodeCchhr(bytes(f, 'vtocPointer')), owner: str(f, 'owner') };
}
