/**
 * The structural VTOC check of a CKD volume (native-layout/disk-vol1.md, dscb-*.md, vtoc-procedures.md), for `snaptape check`: VOL1 on
 * track 0 R3 pointing inside the volume at a Format-4; the VTOC extent on the volume, off track 0,
 * holding the Format-4; every VTOC track decoding; every Format-1 with its Format-3 chain readable
 * and its extents on the volume. The space side (overlaps, Format-5, counters) is
 * vtoc-space-check.ts. Unlike vtoc-reader.ts, which stops at the first fault, every problem is
 * reported with its CCHHR, track or DSCB.
 *
 * A volume whose VOL1 points at a track that holds no DSCB at all has no VTOC (what dasdinit
 * writes, native-layout/disk-vol1.md): that is not a problem.
 *
 * Invariant: reads only, through a read-only Volume.
 */
import { encodeEbcdic } from '../base/ebcdic.js';
import { decodeFields, bytes, str } from '../base/field-table.js';
import type { CkdRecord, CkdTrack } from '../ckd/track-codec.js';
import { ImageFormatError } from '../errors/snaptape-error.js';
import { cchhOf, formatCchhr, trackIndexOf, type Cchhr } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { Volume } from '../volume/volume.js';
import { decodeFormat1, decodeFormat3, decodeFormat4, dscbFormatId, isFormat3Key, type Format1, type Format4 } from '../vtoc/dscb-codec.js';
import { DISK_VOL1_LAYOUT, DSCB_DATA_BYTES, DSCB_FORMAT, DSCB_KEY_BYTES } from '../vtoc/dscb-layouts.js';
import { decodeCchhr, extentRun, isNullCchhr, type Extent, type TrackRun } from '../vtoc/extent.js';
import { VOL1_RECORD } from '../vtoc/volume-label.js';
import { problem, type CheckLocation, type CheckProblem } from './check-report.js';
import { labelTrackRun, vtocOwnedRun, type OwnedRun } from '../vtoc/extent-overlap.js';
import { checkVtocSpace, dscbLocation, type VtocSlot } from './vtoc-space-check.js';

export interface VtocCheck {
  /** False for a volume without a VTOC (dasdinit). */
  readonly hasVtoc: boolean;
  readonly summary: string;
  readonly problems: readonly CheckProblem[];
}

/** Bound on a Format-3 chain: 16 extents need one Format-3; a longer chain is a loop or damage. */
const MAX_FORMAT3_CHAIN = 64;
const VOL1_KEY = encodeEbcdic('VOL1');

function trackLocation(geometry: CkdGeometry, track: number): CheckLocation {
  const a = cchhOf(geometry, track);
  return { text: `track ${track} (CC=${a.cylinder} HH=${a.head})`, track };
}

function readTrackOrProblem(volume: Volume, track: number, what: string, problems: CheckProblem[]): CkdTrack | undefined {
  try {
    return volume.readTrack(track);
  } catch (error) {
    if (!(error instanceof ImageFormatError)) throw error;
    problems.push(problem('dscb', trackLocation(volume.ckd, track), `Cannot read ${what}: ${error.message}`));
    return undefined;
  }
}

function isDscbRecord(r: CkdRecord): boolean {
  return r.key.length === DSCB_KEY_BYTES && r.data.length === DSCB_DATA_BYTES;
}

function inside(geometry: CkdGeometry, address: Cchhr): boolean {
  return address.cylinder < geometry.cylinders && address.head < geometry.heads;
}

function extentText(e: Extent): string {
  return `CC/HH ${e.begin.cylinder}/${e.begin.head}-${e.end.cylinder}/${e.end.head}`;
}

function extentOnVolume(geometry: CkdGeometry, e: Extent): boolean {
  return inside(geometry, { ...e.begin, record: 0 }) && inside(geometry, { ...e.end, record: 0 }) && extentRun(geometry, e).trackCount >= 1;
}

/** VOL1's VTOC pointer, or a problem. */
function readVol1(volume: Volume, problems: CheckProblem[]): Cchhr | undefined {
  const geometry = volume.ckd;
  const track0 = readTrackOrProblem(volume, 0, 'the volume label on track 0', problems);
  if (!track0) return undefined;
  const record = track0.records.find((r) => r.record === VOL1_RECORD);
  const where = dscbLocation('VOL1 label', { cylinder: 0, head: 0, record: VOL1_RECORD }, geometry);
  if (
    !record ||
    !record.key.equals(VOL1_KEY) ||
    record.data.length < DISK_VOL1_LAYOUT.size ||
    str(decodeFields(DISK_VOL1_LAYOUT, record.data), 'labelId') !== 'VOL1'
  ) {
    problems.push(problem('vol1', where, `Cannot find the volume label of ${volume.path}: cylinder 0 head 0 has no VOL1 record R3 (key and label id "VOL1")`));
    return undefined;
  }
  const pointer = decodeCchhr(bytes(decodeFields(DISK_VOL1_LAYOUT, record.data), 'vtocPointer'));
  if (!inside(geometry, pointer) || pointer.record === 0 || trackIndexOf(geometry, pointer) === 0) {
    problems.push(
      problem(
        'vol1',
        where,
        `VOL1 of ${volume.path} points at ${formatCchhr(pointer)} for the VTOC, which is not a record on tracks 1-${geometry.trackCount - 1} (cylinders 0-${geometry.cylinders - 1}, heads 0-${geometry.heads - 1})`,
      ),
    );
    return undefined;
  }
  return pointer;
}

/** The Format-4 where VOL1 points; `undefined` with no problem when there is no VTOC at all. */
function readFormat4(volume: Volume, pointer: Cchhr, problems: CheckProblem[]): Format4 | undefined {
  const geometry = volume.ckd;
  const track = readTrackOrProblem(volume, trackIndexOf(geometry, pointer), `the track VOL1 points at (${formatCchhr(pointer)})`, problems);
  if (!track) return undefined;
  if (!track.records.some(isDscbRecord)) return undefined;
  const record = track.records.find((r) => r.record === pointer.record);
  const dscb = record && isDscbRecord(record) ? Buffer.concat([record.key, record.data]) : undefined;
  if (!dscb || dscbFormatId(dscb) !== DSCB_FORMAT.f4) {
    const found = !record
      ? 'no such record'
      : !dscb
        ? `a record of key length ${record.key.length} and data length ${record.data.length}`
        : `a DSCB of format id 0x${dscbFormatId(dscb).toString(16)}`;
    problems.push(
      problem(
        'format4',
        dscbLocation('VTOC pointer', pointer, geometry),
        `VOL1 of ${volume.path} points at ${formatCchhr(pointer)}, which holds ${found}, not the Format-4 DSCB`,
      ),
    );
    return undefined;
  }
  return decodeFormat4(dscb);
}

function checkFormat4(volume: Volume, f4: Format4, at: Cchhr, problems: CheckProblem[]): TrackRun | undefined {
  const geometry = volume.ckd;
  const where = dscbLocation('Format-4 DSCB', at, geometry);
  const e = f4.vtocExtent;
  if (e.type === 0 || !extentOnVolume(geometry, e)) {
    problems.push(
      problem(
        'vtoc-extent',
        where,
        `The VTOC extent (DS4VTOCE, type 0x${e.type.toString(16)}, ${extentText(e)}) of ${volume.path} is not an extent on the volume (cylinders 0-${geometry.cylinders - 1}, heads 0-${geometry.heads - 1})`,
      ),
    );
    return undefined;
  }
  const run = extentRun(geometry, e);
  const self = trackIndexOf(geometry, at);
  if (run.firstTrack === 0)
    problems.push(problem('vtoc-extent', where, `The VTOC extent (${extentText(e)}) of ${volume.path} includes track 0, which holds IPL and VOL1`));
  if (self < run.firstTrack || self >= run.firstTrack + run.trackCount) {
    problems.push(problem('vtoc-extent', where, `The Format-4 at ${formatCchhr(at)} lies outside its own VTOC extent (${extentText(e)})`));
  }
  if (f4.heads !== geometry.heads)
    problems.push(problem('format4', where, `DS4DSTRK says ${f4.heads} tracks per cylinder, but the volume has ${geometry.heads}`));
  if (f4.cylinders > geometry.cylinders)
    problems.push(problem('format4', where, `DS4DSCYL says ${f4.cylinders} cylinders, but the image holds ${geometry.cylinders}`));
  return run;
}

function readSlots(volume: Volume, run: TrackRun, problems: CheckProblem[]): VtocSlot[] {
  const slots: VtocSlot[] = [];
  for (let t = run.firstTrack; t < run.firstTrack + run.trackCount; t++) {
    const track = readTrackOrProblem(volume, t, `VTOC track ${t}`, problems);
    const cchh = cchhOf(volume.ckd, t);
    for (const r of track?.records ?? []) if (isDscbRecord(r)) slots.push({ address: { ...cchh, record: r.record }, dscb: Buffer.concat([r.key, r.data]) });
  }
  return slots;
}

function sameAddress(a: Cchhr, b: Cchhr): boolean {
  return a.cylinder === b.cylinder && a.head === b.head && a.record === b.record;
}

/** A Format-1's extents through its Format-3 chain; every fault is a problem. */
function datasetRuns(volume: Volume, slots: readonly VtocSlot[], slot: VtocSlot, problems: CheckProblem[]): OwnedRun[] {
  const geometry = volume.ckd;
  const f1: Format1 = decodeFormat1(slot.dscb);
  const where = dscbLocation(`Format-1 DSCB of ${f1.dsname}`, slot.address, geometry);
  const extents: { extent: Extent; at: Cchhr }[] = f1.extents
    .filter((e) => e.type !== 0)
    .slice(0, f1.extentCount)
    .map((extent) => ({ extent, at: slot.address }));
  let next = f1.format3Pointer;
  let chain = 0;
  while (extents.length < f1.extentCount && !isNullCchhr(next)) {
    const f3 = slots.find((s) => sameAddress(s.address, next));
    if (chain >= MAX_FORMAT3_CHAIN || !f3 || dscbFormatId(f3.dscb) !== DSCB_FORMAT.f3 || !isFormat3Key(f3.dscb)) {
      const why =
        chain >= MAX_FORMAT3_CHAIN
          ? `a Format-3 chain longer than ${MAX_FORMAT3_CHAIN}`
          : `a pointer to ${formatCchhr(next)}, which is not a Format-3 DSCB in the VTOC`;
      problems.push(problem('dscb-chain', where, `Data set ${f1.dsname} (Format-1 at ${formatCchhr(slot.address)}) has ${why}`));
      break;
    }
    chain += 1;
    const decoded = decodeFormat3(f3.dscb);
    for (const e of decoded.extents) if (e.type !== 0 && extents.length < f1.extentCount) extents.push({ extent: e, at: f3.address });
    next = decoded.nextPointer;
  }
  if (extents.length !== f1.extentCount) {
    problems.push(
      problem(
        'dscb-chain',
        where,
        `Data set ${f1.dsname} (Format-1 at ${formatCchhr(slot.address)}) says ${f1.extentCount} extents (DS1NOEPV) but its DSCBs hold ${extents.length}`,
      ),
    );
  }
  const runs: OwnedRun[] = [];
  for (const { extent, at } of extents) {
    if (!extentOnVolume(geometry, extent)) {
      problems.push(
        problem(
          'extent-outside',
          dscbLocation(`Format-${sameAddress(at, slot.address) ? 1 : 3} DSCB of ${f1.dsname}`, at, geometry),
          `Data set ${f1.dsname} has extent ${extent.sequence} (${extentText(extent)}) outside the volume (cylinders 0-${geometry.cylinders - 1}, heads 0-${geometry.heads - 1})`,
        ),
      );
      continue;
    }
    runs.push({
      owner: `data set ${f1.dsname} extent ${extent.sequence} (Format-1 at ${formatCchhr(slot.address)})`,
      address: slot.address,
      run: extentRun(geometry, extent),
      dsname: f1.dsname,
    });
  }
  return runs;
}

/** Checks the VTOC of a CKD volume opened read-only. */
export function checkVtoc(volume: Volume): VtocCheck {
  const geometry = volume.ckd;
  const problems: CheckProblem[] = [];
  const pointer = readVol1(volume, problems);
  if (!pointer) return { hasVtoc: false, summary: 'VOL1 unreadable', problems };
  const f4 = readFormat4(volume, pointer, problems);
  if (!f4) {
    const summary = problems.length === 0 ? `no VTOC (VOL1 points at ${formatCchhr(pointer)}, an empty track, as dasdinit leaves it)` : 'no readable Format-4';
    return { hasVtoc: false, summary, problems };
  }
  const run = checkFormat4(volume, f4, pointer, problems);
  if (!run) return { hasVtoc: true, summary: 'VTOC extent invalid', problems };
  const unreadableBefore = problems.length;
  const slots = readSlots(volume, run, problems);
  const slotsComplete = problems.length === unreadableBefore;
  const owned: OwnedRun[] = [labelTrackRun(), vtocOwnedRun(pointer, run)];
  const datasets = slots.filter((s) => dscbFormatId(s.dscb) === DSCB_FORMAT.f1);
  for (const slot of datasets) owned.push(...datasetRuns(volume, slots, slot, problems));
  problems.push(...checkVtocSpace({ volume, format4: f4, format4Address: pointer, slots, owned, slotsComplete }));
  const first = cchhOf(geometry, run.firstTrack);
  return { hasVtoc: true, summary: `VTOC at CC=${first.cylinder} HH=${first.head}, ${run.trackCount} tracks, ${datasets.length} data sets`, problems };
}
