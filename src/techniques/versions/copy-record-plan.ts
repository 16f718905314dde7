/**
 * The copy record of a version (issue 9, Build 4, Copy method): taken from the PPR for this version
 * if there is one, else from the RR of the earlier version that used the same target pool, else
 * made afresh; then verified against the source pool as it is now. A pair whose source left the
 * pool is dropped; each source that joined is paired by target selection.
 *
 * Runs inside the caller's transaction and changes nothing: the caller reserves the added targets.
 */
import { getVolume, poolRole, poolVolumes, type Technology } from '../../catalog/catalog-inventory.js';
import { nextVersionNumber, previousVersionOfPool, readRecord, type CopyPair, type RecordBasis } from '../../catalog/catalog-records.js';
import type { Db } from '../../catalog/catalog.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { selectTarget, type Rejection } from './target-selection.js';

export interface PlanRequest {
  readonly version: number;
  readonly sourcePool: string;
  readonly targetPool: string;
  readonly technology: Technology;
  /** False for prepairing: a PPR is itself made from the RR or afresh. */
  readonly usePpr: boolean;
}

export interface CopyPlan {
  readonly basis: RecordBasis;
  /** The version whose RR the record came from, when basis is RR. */
  readonly basisVersion: number | null;
  /** The verified copy record: kept pairs and new pairs, by source path. */
  readonly pairs: readonly CopyPair[];
  readonly dropped: readonly CopyPair[];
  readonly added: readonly CopyPair[];
}

export type PlanOutcome =
  { readonly ok: true; readonly plan: CopyPlan } | { readonly ok: false; readonly sourcePath: string; readonly rejections: readonly Rejection[] };

export function planCopyRecord(db: Db, request: PlanRequest): PlanOutcome {
  const last = nextVersionNumber(db) - 1;
  if (request.version <= last)
    throw new UsageError(`Cannot make a copy record for version ${request.version}: version ${last} exists, a new version must come after it`);
  if (poolRole(db, request.sourcePool) !== 'source') throw new UsageError(`Cannot copy from pool ${request.sourcePool}: it is a target pool`);
  if (poolRole(db, request.targetPool) !== 'target') throw new UsageError(`Cannot copy into pool ${request.targetPool}: it is a source pool`);
  const ppr = request.usePpr ? readRecord(db, 'PPR', request.version) : undefined;
  if (ppr && ppr.targetPool !== request.targetPool) {
    throw new UsageError(`Cannot create version ${request.version} in pool ${request.targetPool}: its PPR pairs into pool ${ppr.targetPool}`);
  }
  const previous = ppr ? undefined : previousVersionOfPool(db, request.targetPool, request.version);
  const rr = previous ? readRecord(db, 'RR', previous.version) : undefined;
  const basis: RecordBasis = ppr ? 'PPR' : rr ? 'RR' : 'fresh';
  const basePairs = ppr?.pairs ?? rr?.pairs ?? [];
  const sources = poolVolumes(db, request.sourcePool);
  if (sources.length === 0) throw new UsageError(`Cannot make a copy record for version ${request.version}: source pool ${request.sourcePool} is empty`);
  const sourcePaths = new Set(sources.map((s) => s.path));
  const kept = basePairs.filter((p) => sourcePaths.has(p.sourcePath));
  const dropped = basePairs.filter((p) => !sourcePaths.has(p.sourcePath));
  const taken = new Set(kept.map((p) => p.targetPath));
  const paired = new Set(kept.map((p) => p.sourcePath));
  const candidates = poolVolumes(db, request.targetPool);
  const added: CopyPair[] = [];
  for (const source of sources) {
    if (paired.has(source.path)) continue;
    const selection = selectTarget({ source, candidates, technology: request.technology, takenInPlan: taken });
    if (!selection.ok) return { ok: false, sourcePath: source.path, rejections: selection.rejections };
    taken.add(selection.target.path);
    added.push({ sourcePath: source.path, targetPath: selection.target.path, technology: request.technology });
  }
  const pairs = [...kept, ...added].sort((a, b) => (a.sourcePath < b.sourcePath ? -1 : 1));
  return { ok: true, plan: { basis, basisVersion: rr ? (previous?.version ?? null) : null, pairs, dropped, added } };
}

/** Reserves the targets of new pairs: for this version only while it is `creating`, else for good. */
export function reserveTargets(db: Db, pairs: readonly CopyPair[], inVersion: number | null): void {
  const reserve = db.prepare('UPDATE volumes SET reserved_for = ?, reserved_in_version = ? WHERE path = ? AND (reserved_for IS NULL OR reserved_for = ?)');
  for (const pair of pairs) {
    const done = reserve.run(pair.sourcePath, inVersion, pair.targetPath, pair.sourcePath);
    if (done.changes !== 1)
      throw new UsageError(
        `Cannot reserve ${pair.targetPath} for ${pair.sourcePath}: ${getVolume(db, pair.targetPath)?.reservedFor ?? 'it is not in the inventory'}`,
      );
  }
}
