/**
 * Target selection (issue 9, Build 2): scan a target pool for a volume that can take a source.
 * A candidate qualifies when it passes every check, in this order:
 * - available: its image opens now and no live process holds its lock (its facts are read again
 *   at each selection, issue 21; `refreshTargetFacts`); an unavailable candidate fails this check
 *   alone, since its other facts are unknown;
 * - reserved: it is not reserved for another pair (a target reserved for this same source is free,
 *   and so is the target of a pair this same version breaks: patent step 614), and it is not the
 *   same file (through a link, or one path entered in two pools) as a source of the pool or as a
 *   target chosen for another source: a copy onto it would write over that volume;
 * - type: a clone or snapshot target has the source's format (CKD or FBA); a tape target is an FBA
 *   volume, whatever the source, since the pair's tape is written onto it (`TAPE_START_BLOCK`);
 * - geometry: a clone or snapshot target has the source's device type and heads per cylinder;
 * - size: a clone or snapshot target has at least as many cylinders (CKD) or blocks (FBA) as the
 *   source; a tape target has room for the source's whole-volume tape (`tapeBytesBound`);
 * - technology: the pool entry names the copy technology the pair asks for.
 * When none qualifies the caller records a notification that names, per candidate, the checks it
 * failed (`describeRejections`).
 */
import type { Technology, VolumeRecord } from '../../catalog/catalog-inventory.js';
import { FBA_BLOCK_BYTES, familyByName } from '../../geometry/device-types.js';
import { AWS_HEADER_BYTES } from '../../tape/aws-block-header.js';

/** The block of a tape target (an FBA volume) where a version's tape starts: after block 0 and the VOL1 label in block 1, so the volume keeps its label. */
export const TAPE_START_BLOCK = 2;

/** Room the labels of a one-file tape take, and more: VOL1, HDR1-2, UHLs, tapemarks, EOF1-2, UTLs. */
const TAPE_LABEL_ALLOWANCE_BYTES = 64 * 1024;
/** The largest track slot of any CKD family, for a device type the geometry tables do not name. */
const LARGEST_TRACK_SLOT_BYTES = 56_832;

/**
 * At most how many bytes the tape of a whole-volume backup of `source` takes: every unit at its
 * largest (a track slot, or a 512-byte block) with its AWSTAPE header, and the labels.
 */
export function tapeBytesBound(source: VolumeRecord): number {
  const unitBytes = source.format === 'fba' ? FBA_BLOCK_BYTES : (familyByName(source.deviceType.slice(0, 4))?.trackSlotBytes ?? LARGEST_TRACK_SLOT_BYTES);
  return source.units * (unitBytes + AWS_HEADER_BYTES) + TAPE_LABEL_ALLOWANCE_BYTES;
}

export type TargetCheck = 'available' | 'reserved' | 'type' | 'geometry' | 'size' | 'technology';
export const TARGET_CHECKS: readonly TargetCheck[] = ['available', 'reserved', 'type', 'geometry', 'size', 'technology'];

/** What a selection knows beyond the volumes' own facts. */
export interface SelectionContext {
  /** Targets already chosen for another source of this plan. */
  readonly takenInPlan: ReadonlySet<string>;
  /** Targets of pairs this plan breaks: free for any source, whoever they are reserved for. */
  readonly freed: ReadonlySet<string>;
  /** Images that cannot be opened now, with the reason. */
  readonly unavailable: ReadonlyMap<string, string>;
  /** The file of each source and candidate (`fileIdentities`); without it, names are not compared as files. */
  readonly fileOf?: ReadonlyMap<string, string>;
  /** The paths of every source of the pool being copied, whose files no target may be. */
  readonly sourcePaths?: readonly string[];
}

/** A source, or a target already taken in this plan, that is the same file as `target`. */
function sameFileAs(target: string, context: SelectionContext): { readonly path: string; readonly role: 'source' | 'taken' } | undefined {
  const file = context.fileOf?.get(target);
  if (file === undefined) return undefined;
  const source = context.sourcePaths?.find((p) => context.fileOf?.get(p) === file);
  if (source !== undefined) return { path: source, role: 'source' };
  const taken = [...context.takenInPlan].find((p) => p !== target && context.fileOf?.get(p) === file);
  return taken === undefined ? undefined : { path: taken, role: 'taken' };
}

export interface Rejection {
  readonly targetPath: string;
  readonly failed: readonly TargetCheck[];
  readonly reasons: readonly string[];
}

export type Selection = { readonly ok: true; readonly target: VolumeRecord } | { readonly ok: false; readonly rejections: readonly Rejection[] };

/** Every check `target` fails for `source`, with a sentence for each. */
export function checkTarget(source: VolumeRecord, target: VolumeRecord, technology: Technology, context: SelectionContext): Rejection {
  const failed: TargetCheck[] = [];
  const reasons: string[] = [];
  const fail = (check: TargetCheck, reason: string): void => {
    failed.push(check);
    reasons.push(`${check}: ${reason}`);
  };
  const gone = context.unavailable.get(target.path);
  if (gone !== undefined) {
    fail('available', gone);
    return { targetPath: target.path, failed, reasons };
  }
  const alias = sameFileAs(target.path, context);
  if (alias?.role === 'source') fail('reserved', `the same file as source ${alias.path}`);
  else if (target.reservedFor !== null && target.reservedFor !== source.path && !context.freed.has(target.path))
    fail('reserved', `reserved for ${target.reservedFor}`);
  else if (context.takenInPlan.has(target.path)) fail('reserved', 'chosen for another source of this version');
  else if (alias !== undefined) fail('reserved', `the same file as ${alias.path}, chosen for another source of this version`);
  if (technology === 'tape') {
    if (target.format !== 'fba') fail('type', `${target.format} volume, a tape is written onto an FBA volume`);
    else if ((target.units - TAPE_START_BLOCK) * FBA_BLOCK_BYTES < tapeBytesBound(source))
      fail(
        'size',
        `${target.units} blocks, the tape of the source may take ${Math.ceil(tapeBytesBound(source) / FBA_BLOCK_BYTES)} from block ${TAPE_START_BLOCK}`,
      );
  } else {
    if (target.format !== source.format) fail('type', `${target.format} volume, the source is ${source.format}`);
    else if (target.deviceType !== source.deviceType || target.heads !== source.heads) {
      fail('geometry', `${target.deviceType} with ${target.heads} heads, the source is ${source.deviceType} with ${source.heads}`);
    }
    // Sizes of different types (tracks and blocks) do not compare: the type check already failed.
    if (target.format === source.format && (target.units < source.units || target.cylinders < source.cylinders)) {
      fail('size', `${target.cylinders} cylinders (${target.units} units), the source has ${source.cylinders} (${source.units})`);
    }
  }
  if (target.technology !== technology) fail('technology', `uses ${target.technology ?? 'none'}, the pair needs ${technology}`);
  return { targetPath: target.path, failed, reasons };
}

/** The first candidate (in path order) that passes every check, or every candidate's rejection. */
export function selectTarget(
  options: {
    readonly source: VolumeRecord;
    readonly candidates: readonly VolumeRecord[];
    readonly technology: Technology;
  } & SelectionContext,
): Selection {
  const rejections: Rejection[] = [];
  for (const candidate of options.candidates) {
    const rejection = checkTarget(options.source, candidate, options.technology, options);
    if (rejection.failed.length === 0) return { ok: true, target: candidate };
    rejections.push(rejection);
  }
  return { ok: false, rejections };
}

/** The distinct checks that failed across all candidates, in check order. */
export function failedChecks(rejections: readonly Rejection[]): TargetCheck[] {
  return TARGET_CHECKS.filter((check) => rejections.some((r) => r.failed.includes(check)));
}

export function describeRejections(options: { sourcePath: string; targetPool: string; rejections: readonly Rejection[] }): string {
  const detail =
    options.rejections.length === 0 ? 'the pool has no volumes' : options.rejections.map((r) => `${r.targetPath}: ${r.reasons.join('; ')}`).join(' | ');
  return `Cannot pair ${options.sourcePath} in target pool ${options.targetPool}: no volume qualifies (${detail})`;
}
