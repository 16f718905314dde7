/**
 * Data set extents (native-layout/dscb-extent.md): `type seq beginCC beginHH endCC endHH`, begin..end inclusive.
 * An extent is one contiguous run of flat track indexes. Extents decoded from a DSCB are checked
 * against the volume: one that points outside it is a VtocError naming the file and the DSCB.
 */
import { decodeFields, encodeFields, num } from '../base/field-table.js';
import { VtocError } from '../errors/snaptape-error.js';
import { cchhOf, formatCchhr, type Cchh, type Cchhr } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import { CCHHR_LAYOUT, EXTENT_LAYOUT, FREE_EXTENT_LAYOUT } from './dscb-layouts.js';

export const EXTENT_TYPE = { unused: 0x00, data: 0x01, cylinderBoundary: 0x81 } as const;

export interface Extent {
  readonly type: number;
  readonly sequence: number;
  readonly begin: Cchh;
  readonly end: Cchh;
}

/** A run of flat track indexes. */
export interface TrackRun {
  readonly firstTrack: number;
  readonly trackCount: number;
}

export function decodeExtent(bytes: Uint8Array): Extent {
  const f = decodeFields(EXTENT_LAYOUT, bytes);
  return {
    type: num(f, 'type'),
    sequence: num(f, 'sequence'),
    begin: { cylinder: num(f, 'beginCylinder'), head: num(f, 'beginHead') },
    end: { cylinder: num(f, 'endCylinder'), head: num(f, 'endHead') },
  };
}

export function encodeExtent(extent: Extent): Buffer {
  return encodeFields(EXTENT_LAYOUT, {
    type: extent.type,
    sequence: extent.sequence,
    beginCylinder: extent.begin.cylinder,
    beginHead: extent.begin.head,
    endCylinder: extent.end.cylinder,
    endHead: extent.end.head,
  });
}

export const UNUSED_EXTENT: Extent = { type: 0, sequence: 0, begin: { cylinder: 0, head: 0 }, end: { cylinder: 0, head: 0 } };

export function extentRun(geometry: CkdGeometry, extent: Extent): TrackRun {
  const first = extent.begin.cylinder * geometry.heads + extent.begin.head;
  const last = extent.end.cylinder * geometry.heads + extent.end.head;
  return { firstTrack: first, trackCount: last - first + 1 };
}

export function extentFromRun(geometry: CkdGeometry, run: TrackRun, sequence: number, type: number): Extent {
  return { type, sequence, begin: cchhOf(geometry, run.firstTrack), end: cchhOf(geometry, run.firstTrack + run.trackCount - 1) };
}

/** Throws a VtocError unless the extent lies on the volume with begin ≤ end. */
export function checkExtent(geometry: CkdGeometry, extent: Extent, where: { path: string; owner: string }): void {
  const inside = (a: Cchh): boolean => a.cylinder < geometry.cylinders && a.head < geometry.heads;
  const run = extentRun(geometry, extent);
  if (!inside(extent.begin) || !inside(extent.end) || run.trackCount < 1) {
    const text = `${extent.begin.cylinder}/${extent.begin.head}-${extent.end.cylinder}/${extent.end.head}`;
    throw new VtocError(
      `Cannot read the VTOC of ${where.path}: ${where.owner} has an extent (CC/HH ${text}) outside the volume (cylinders 0-${geometry.cylinders - 1}, heads 0-${geometry.heads - 1})`,
      { path: where.path, beginCylinder: extent.begin.cylinder, beginHead: extent.begin.head, endCylinder: extent.end.cylinder, endHead: extent.end.head },
    );
  }
}

export function decodeCchhr(bytes: Uint8Array): Cchhr {
  const f = decodeFields(CCHHR_LAYOUT, bytes);
  return { cylinder: num(f, 'cylinder'), head: num(f, 'head'), record: num(f, 'record') };
}

export function encodeCchhr(address: Cchhr): Buffer {
  return encodeFields(CCHHR_LAYOUT, { cylinder: address.cylinder, head: address.head, record: address.record });
}

export function isNullCchhr(address: Cchhr): boolean {
  return address.cylinder === 0 && address.head === 0 && address.record === 0;
}

export const NULL_CCHHR: Cchhr = { cylinder: 0, head: 0, record: 0 };

export function describeCchhr(address: Cchhr): string {
  return formatCchhr(address);
}

/** A Format-5 free extent: relative track, whole cylinders, extra tracks. */
export interface FreeExtent {
  readonly relativeTrack: number;
  readonly cylinders: number;
  readonly tracks: number;
}

export function decodeFreeExtent(bytes: Uint8Array): FreeExtent {
  const f = decodeFields(FREE_EXTENT_LAYOUT, bytes);
  return { relativeTrack: num(f, 'relativeTrack'), cylinders: num(f, 'cylinders'), tracks: num(f, 'tracks') };
}

export function encodeFreeExtent(extent: FreeExtent): Buffer {
  return encodeFields(FREE_EXTENT_LAYOUT, { ...extent });
}
