/**
 * The space side of the VTOC check (native-layout/dscb-format*.md, vtoc-procedures.md): extents must not overlap each other,
 * the VTOC or track 0; when DS4VTOCI does not carry 0x80 ("free space not valid", what dasdload
 * writes), the Format-5 chain must list exactly the tracks no extent uses; DS4DSREC must count the
 * Format-0 DSCBs, and DS4HPCHR must not lie before a Format-1 in use.
 *
 * Only the last three kinds (`vtoc-free-space`, `vtoc-dscb-count`, `vtoc-highest-dscb`) are safe
 * to repair: they are summaries that vtoc-writer.ts rebuilds from the extents, which are the truth.
 *
 * Invariant: reads only; the report of mismatched free runs is bounded (MAX_LISTED_RUNS).
 */
import { formatCchhr, trackIndexOf, type Cchhr } from '../geometry/cchh.js';
import type { CkdGeometry } from '../geometry/volume-geometry.js';
import type { Volume } from '../volume/volume.js';
import { decodeFormat5, dscbFormatId, VTOCI_FREE_SPACE_INVALID, type Format4 } from '../vtoc/dscb-codec.js';
import { DSCB_FORMAT } from '../vtoc/dscb-layouts.js';
import { isNullCchhr } from '../vtoc/extent.js';
import { findRunOverlaps, ownedRunText, tracksText, type OwnedRun } from '../vtoc/extent-overlap.js';
import { freeRuns } from '../vtoc/free-space.js';
import { problem, type CheckLocation, type CheckProblem } from './check-report.js';

/** The kinds that rebuilding the Format-5 chain and the Format-4 counters repairs. */
export const VTOC_SUMMARY_KINDS: ReadonlySet<string> = new Set(['vtoc-free-space', 'vtoc-dscb-count', 'vtoc-highest-dscb']);
/** Mismatched free runs named one by one; the rest are counted (a wiped Format-5 can miss thousands). */
const MAX_LISTED_RUNS = 20;

export interface VtocSlot {
  readonly address: Cchhr;
  readonly dscb: Buffer;
}

export function dscbLocation(what: string, address: Cchhr, geometry: CkdGeometry): CheckLocation {
  const cchhr = formatCchhr(address);
  return { text: `${what} at ${cchhr}`, cchhr: cchhr.replace('CCHHR ', ''), track: trackIndexOf(geometry, address) };
}

export interface SpaceInput {
  readonly volume: Volume;
  readonly format4: Format4;
  readonly format4Address: Cchhr;
  readonly slots: readonly VtocSlot[];
  readonly owned: readonly OwnedRun[];
  /** False when a VTOC track did not decode: its DSCBs are unknown, so counts and free space are too. */
  readonly slotsComplete: boolean;
}

function overlapProblems(input: SpaceInput): CheckProblem[] {
  const geometry = input.volume.ckd;
  return findRunOverlaps(input.owned).map(({ first: a, second: b, tracks }) => {
    // A data set's DSCB is where the damage is, rather than track 0 or the Format-4.
    const later = a.dsname !== undefined && b.dsname === undefined ? a : b;
    return problem(
      'extent-overlap',
      { ...dscbLocation(later.owner, later.address, geometry), track: tracks.firstTrack },
      `${ownedRunText(b)} overlaps ${ownedRunText(a)} on ${tracksText(tracks)}`,
    );
  });
}

function sameAddress(a: Cchhr, b: Cchhr): boolean {
  return a.cylinder === b.cylinder && a.head === b.head && a.record === b.record;
}

/** The tracks the Format-5 chain calls free, or a problem when the chain cannot be read. */
function format5FreeMap(input: SpaceInput, problems: CheckProblem[]): { free: Uint8Array; first: Cchhr } | undefined {
  const geometry = input.volume.ckd;
  const firstAddress = { ...input.format4Address, record: input.format4Address.record + 1 };
  const f4Where = dscbLocation('Format-4 DSCB', input.format4Address, geometry);
  const free = new Uint8Array(geometry.trackCount);
  let at: Cchhr = firstAddress;
  // Bounded: a chain cannot be longer than the VTOC has DSCBs.
  for (let n = 0; n <= input.slots.length; n++) {
    const slot = input.slots.find((s) => sameAddress(s.address, at));
    if (!slot || dscbFormatId(slot.dscb) !== DSCB_FORMAT.f5) {
      problems.push(
        problem(
          'vtoc-free-space',
          n === 0 ? f4Where : dscbLocation('Format-5 chain pointer', at, geometry),
          `${n === 0 ? `No Format-5 DSCB at ${formatCchhr(firstAddress)}, right after the Format-4,` : `The Format-5 chain points at ${formatCchhr(at)}, which is not a Format-5,`} while DS4VTOCI says the free space is valid (0x80 clear)`,
        ),
      );
      return undefined;
    }
    const f5 = decodeFormat5(slot.dscb);
    for (const e of f5.free) {
      const count = e.cylinders * geometry.heads + e.tracks;
      if (count === 0) continue;
      if (e.relativeTrack + count > geometry.trackCount) {
        problems.push(
          problem(
            'vtoc-free-space',
            dscbLocation('Format-5 DSCB', slot.address, geometry),
            `The Format-5 at ${formatCchhr(slot.address)} lists free ${tracksText({ firstTrack: e.relativeTrack, trackCount: count })}, past the volume's last track ${geometry.trackCount - 1}`,
          ),
        );
        continue;
      }
      free.fill(1, e.relativeTrack, e.relativeTrack + count);
    }
    if (isNullCchhr(f5.nextPointer)) return { free, first: firstAddress };
    at = f5.nextPointer;
  }
  problems.push(problem('vtoc-free-space', f4Where, 'The Format-5 chain loops'));
  return undefined;
}

function freeSpaceProblems(input: SpaceInput): CheckProblem[] {
  const geometry = input.volume.ckd;
  if ((input.format4.vtocIndicators & VTOCI_FREE_SPACE_INVALID) !== 0) return [];
  const problems: CheckProblem[] = [];
  const listed = format5FreeMap(input, problems);
  if (!listed) return problems;
  const used = new Uint8Array(geometry.trackCount);
  for (const o of input.owned) used.fill(1, o.run.firstTrack, Math.min(geometry.trackCount, o.run.firstTrack + o.run.trackCount));
  // Tracks the Format-5 calls free that an extent uses (an allocation would overwrite them)…
  const wronglyFree = freeRuns(listed.free.map((f, t) => (f === 1 && used[t] === 1 ? 0 : 1)));
  // … and free tracks the Format-5 does not list (space lost to allocation).
  const unlisted = freeRuns(used.map((u, t) => (u === 0 && listed.free[t] === 0 ? 0 : 1)));
  const where = (track: number): CheckLocation => ({ ...dscbLocation('Format-5 DSCB', listed.first, geometry), track });
  const all = [
    ...wronglyFree.map((r) => problem('vtoc-free-space', where(r.firstTrack), `The Format-5 chain lists ${tracksText(r)} as free, but extents use them`)),
    ...unlisted.map((r) =>
      problem('vtoc-free-space', where(r.firstTrack), `${tracksText(r)} are used by no extent, but the Format-5 chain does not list them as free`),
    ),
  ];
  if (all.length <= MAX_LISTED_RUNS) return [...problems, ...all];
  return [
    ...problems,
    ...all.slice(0, MAX_LISTED_RUNS),
    problem('vtoc-free-space', where(0), `… and ${all.length - MAX_LISTED_RUNS} more mismatched free-space runs`),
  ];
}

function compareAddress(a: Cchhr, b: Cchhr): number {
  return a.cylinder - b.cylinder || a.head - b.head || a.record - b.record;
}

function counterProblems(input: SpaceInput): CheckProblem[] {
  const geometry = input.volume.ckd;
  const where = dscbLocation('Format-4 DSCB', input.format4Address, geometry);
  const problems: CheckProblem[] = [];
  const empty = input.slots.filter((s) => dscbFormatId(s.dscb) === DSCB_FORMAT.empty).length;
  if (empty !== input.format4.freeDscbs) {
    problems.push(problem('vtoc-dscb-count', where, `DS4DSREC says ${input.format4.freeDscbs} free DSCBs, but the VTOC has ${empty} Format-0 DSCBs`));
  }
  const beyond = input.slots.filter((s) => dscbFormatId(s.dscb) === DSCB_FORMAT.f1 && compareAddress(s.address, input.format4.highestFormat1) > 0);
  const last = beyond[beyond.length - 1];
  if (last) {
    problems.push(
      problem(
        'vtoc-highest-dscb',
        where,
        `DS4HPCHR points at ${formatCchhr(input.format4.highestFormat1)}, before the Format-1 in use at ${formatCchhr(last.address)}`,
      ),
    );
  }
  return problems;
}

/** Overlaps, Format-5 free space and Format-4 counters of a VTOC whose DSCBs were read. */
export function checkVtocSpace(input: SpaceInput): CheckProblem[] {
  if (!input.slotsComplete) return overlapProblems(input);
  return [...overlapProblems(input), ...freeSpaceProblems(input), ...counterProblems(input)];
}
