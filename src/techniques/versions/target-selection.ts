/**
 * Target selection (issue 9, Build 2): scan a target pool for a volume that can take a source.
 * A candidate qualifies when it passes every check, in this order:
 * - reserved: it is not reserved for another pair (a target reserved for this same source is free);
 * - type: same format (CKD or FBA) as the source;
 * - geometry: same device type and heads per cylinder;
 * - size: at least as many cylinders (CKD) or blocks (FBA) as the source;
 * - technology: the pool entry names the copy technology the pair asks for.
 * When none qualifies the caller records a notification that names, per candidate, the checks it
 * failed (`describeRejections`).
 */
import type { Technology, VolumeRecord } from '../../catalog/catalog-inventory.js';

export type TargetCheck = 'reserved' | 'type' | 'geometry' | 'size' | 'technology';
export const TARGET_CHECKS: readonly TargetCheck[] = ['reserved', 'type', 'geometry', 'size', 'technology'];

export interface Rejection {
  readonly targetPath: string;
  readonly failed: readonly TargetCheck[];
  readonly reasons: readonly string[];
}

export type Selection = { readonly ok: true; readonly target: VolumeRecord } | { readonly ok: false; readonly rejections: readonly Rejection[] };

/** Every check `target` fails for `source`, with a sentence for each. */
export function checkTarget(source: VolumeRecord, target: VolumeRecord, technology: Technology, takenInPlan: ReadonlySet<string>): Rejection {
  const failed: TargetCheck[] = [];
  const reasons: string[] = [];
  const fail = (check: TargetCheck, reason: string): void => {
    failed.push(check);
    reasons.push(`${check}: ${reason}`);
  };
  if (target.reservedFor !== null && target.reservedFor !== source.path) fail('reserved', `reserved for ${target.reservedFor}`);
  else if (takenInPlan.has(target.path)) fail('reserved', 'chosen for another source of this version');
  if (target.format !== source.format) fail('type', `${target.format} volume, the source is ${source.format}`);
  else if (target.deviceType !== source.deviceType || target.heads !== source.heads) {
    fail('geometry', `${target.deviceType} with ${target.heads} heads, the source is ${source.deviceType} with ${source.heads}`);
  }
  // Sizes of different types (tracks and blocks) do not compare: the type check already failed.
  if (target.format === source.format && (target.units < source.units || target.cylinders < source.cylinders)) {
    fail('size', `${target.cylinders} cylinders (${target.units} units), the source has ${source.cylinders} (${source.units})`);
  }
  if (target.technology !== technology) fail('technology', `uses ${target.technology ?? 'none'}, the pair needs ${technology}`);
  return { targetPath: target.path, failed, reasons };
}

/** The first candidate (in path order) that passes every check, or every candidate's rejection. */
export function selectTarget(options: {
  readonly source: VolumeRecord;
  readonly candidates: readonly VolumeRecord[];
  readonly technology: Technology;
  readonly takenInPlan: ReadonlySet<string>;
}): Selection {
  const rejections: Rejection[] = [];
  for (const candidate of options.candidates) {
    const rejection = checkTarget(options.source, candidate, options.technology, options.takenInPlan);
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
