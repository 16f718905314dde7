/**
 * Track capacity: how many records of key length KL and data length DL fit on one track, following
 * each device's formula exactly (native-layout/track-capacity.md, Hercules dasdutil.c capacity_calc).
 *
 * 3390: a record costs C cells of 34 bytes out of 1729:
 *   DN = ceil((DL+6)/232), KN = ceil((KL+6)/232)
 *   C  = 19 + ceil((DL+6+6·DN)/34) + (KL > 0 ? 9 + ceil((KL+6+6·KN)/34) : 0)
 * 3380: cells of 32 bytes out of 1499:
 *   C  = 15 + ceil((DL+12)/32) + (KL > 0 ? 7 + ceil((KL+12)/32) : 0)
 * Costs add up record by record on both families, so a set of records fits iff the sum of their
 * cells is at most the track's cells.
 */
import { assertInteger } from '../base/assert.js';
import type { CkdFamily } from './device-types.js';

/** Largest key length (one byte in the count field). */
export const MAX_KEY_LENGTH = 255;
/** Largest data length (two bytes in the count field). */
export const MAX_DATA_LENGTH = 65535;

export interface RecordShape {
  readonly keyLength: number;
  readonly dataLength: number;
}

const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** Cells one record of this shape costs on a track of `family`. */
export function recordCells(family: CkdFamily, shape: RecordShape): number {
  assertInteger(shape.keyLength, 'keyLength', 0, MAX_KEY_LENGTH);
  assertInteger(shape.dataLength, 'dataLength', 0, MAX_DATA_LENGTH);
  const { keyLength: kl, dataLength: dl } = shape;
  if (family.family === '3390') {
    const dn = ceilDiv(dl + 6, 232);
    const kn = ceilDiv(kl + 6, 232);
    const dataCells = 19 + ceilDiv(dl + 6 + 6 * dn, 34);
    return kl > 0 ? dataCells + 9 + ceilDiv(kl + 6 + 6 * kn, 34) : dataCells;
  }
  const dataCells = 15 + ceilDiv(dl + 12, 32);
  return kl > 0 ? dataCells + 7 + ceilDiv(kl + 12, 32) : dataCells;
}

/** Records of one shape that fit on an empty track (0 when even one does not). */
export function recordsPerTrack(family: CkdFamily, shape: RecordShape): number {
  return Math.floor(family.capacity.cellsPerTrack / recordCells(family, shape));
}

/** Cells used by a list of records (R1 onwards; HA and R0 are outside the track's cells). */
export function cellsUsed(family: CkdFamily, records: readonly RecordShape[]): number {
  let total = 0;
  for (const r of records) total += recordCells(family, r);
  return total;
}

/** True when these records (R1 onwards) fit on one track by the device formula. */
export function recordsFit(family: CkdFamily, records: readonly RecordShape[]): boolean {
  return cellsUsed(family, records) <= family.capacity.cellsPerTrack;
}

/**
 * Track balance (DS1TRBAL): bytes left on the last used track, as dasdload computes it:
 * DS4DEVTK − Σ cell bytes of every record on that track (the EOF record included).
 */
export function trackBalanceBytes(family: CkdFamily, records: readonly RecordShape[]): number {
  return family.capacity.trackLengthBytes - cellsUsed(family, records) * family.capacity.cellBytes;
}
