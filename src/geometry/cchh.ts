/**
 * CKD addresses: a track is named by cylinder and head (CCHH), a record by CCHHR. The volume is
 * also addressed by a flat track index t = cylinder × heads + head. This module converts between
 * the two and range-checks, raising AddressRangeError with the volume named.
 */
import { AddressRangeError } from '../errors/snaptape-error.js';
import type { CkdGeometry } from './volume-geometry.js';

export interface Cchh {
  readonly cylinder: number;
  readonly head: number;
}

export interface Cchhr extends Cchh {
  readonly record: number;
}

export function formatCchh(a: Cchh): string {
  return `CC=${a.cylinder} HH=${a.head}`;
}

const hex = (value: number, digits: number): string => value.toString(16).toUpperCase().padStart(digits, '0');

/** "CCHHR 0000000801": the form operators read in VOL1 dumps and IBM messages. */
export function formatCchhr(a: Cchhr): string {
  return `CCHHR ${hex(a.cylinder, 4)}${hex(a.head, 4)}${hex(a.record, 2)}`;
}

/** Throws unless `address` lies on the volume. `where` names the volume (its path) in the message. */
export function checkCchh(geometry: CkdGeometry, address: Cchh, where: string): void {
  const ok =
    Number.isInteger(address.cylinder) &&
    Number.isInteger(address.head) &&
    address.cylinder >= 0 &&
    address.cylinder < geometry.cylinders &&
    address.head >= 0 &&
    address.head < geometry.heads;
  if (!ok) {
    throw new AddressRangeError(
      `Cannot address ${formatCchh(address)} on ${where}: the volume has cylinders 0-${geometry.cylinders - 1} and heads 0-${geometry.heads - 1}`,
      { path: where, cylinder: address.cylinder, head: address.head },
    );
  }
}

export function checkTrackIndex(geometry: CkdGeometry, trackIndex: number, where: string): void {
  if (!Number.isInteger(trackIndex) || trackIndex < 0 || trackIndex >= geometry.trackCount) {
    throw new AddressRangeError(`Cannot address track ${trackIndex} on ${where}: the volume has tracks 0-${geometry.trackCount - 1}`, {
      path: where,
      track: trackIndex,
    });
  }
}

export function trackIndexOf(geometry: CkdGeometry, address: Cchh): number {
  return address.cylinder * geometry.heads + address.head;
}

export function cchhOf(geometry: CkdGeometry, trackIndex: number): Cchh {
  return { cylinder: Math.floor(trackIndex / geometry.heads), head: trackIndex % geometry.heads };
}
