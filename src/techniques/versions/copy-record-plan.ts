/**
 * The copy record of a version (issue 9, Build 4, Copy method): taken from the PPR for this version
 * if there is one, else from the RR of the earlier version that used the same target pool, else
 * made afresh; then verified against the pools as they are now, with every volume's facts read
 * again from its image (issue 21). A pair is dropped when its source left the pool, or its target
 * left its pool or no longer qualifies (unavailable, resized, reserved elsewhere); each source left
 * without a pair is paired by target selection, which may take the target of a dropped pair: the
 * broken pair frees it for the other sources of this same version (patent step 614).
 *
 * Runs inside the caller's transaction and changes nothing but the refreshed facts: the caller
 * breaks the dropped pairs (`breakPairs`) and reserves the added targets (`reserveTargets`).
 */
import { getVolume, poolRole, poolVolumes, type Technology } from '../../catalog/catalog-inventory.js';
import { listRecords, nextVersionNumber, previousVersionOfPool, readRecord, type CopyPair, type RecordBasis } from '../../catalog/catalog-records.js';
import type { Db } from '../../catalog/catalog.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { checkTarget, selectTarget, type Rejection } from './target-selection.js';
import { fileIdentities, refreshFacts, refreshTargetFacts } from './volume-facts.js';

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
  const sourcePaths = poolVolumes(db, request.sourcePool).map((v) => v.path);
  if (sourcePaths.length === 0) throw new UsageError(`Cannot make a copy record for version ${request.version}: source pool ${request.sourcePool} is empty`);
  const unavailable = new Map([
    ...refreshFacts(db, sourcePaths),
    ...refreshTargetFacts(
      db,
      poolVolumes(db, request.targetPool).map((v) => v.path),
    ),
  ]);
  for (const path of sourcePaths) {
    const why = unavailable.get(path);
    if (why !== undefined) throw new UsageError(`Cannot copy ${path} of source pool ${request.sourcePool} for version ${request.version}: ${why}`);
  }
  const sources = poolVolumes(db, request.sourcePool);
  const candidates = poolVolumes(db, request.targetPool);
  const sourceByPath = new Map(sources.map((v) => [v.path, v]));
  const targetByPath = new Map(candidates.map((v) => [v.path, v]));
  const none = new Set<string>();
  const fileOf = fileIdentities([...sourcePaths, ...candidates.map((v) => v.path)]);
  const files = { fileOf, sourcePaths };
  // Kept in record order, each against the targets kept before it: two kept targets that are one file keep the first.
  const kept: CopyPair[] = [];
  const dropped: CopyPair[] = [];
  for (const pair of basePairs) {
    const source = sourceByPath.get(pair.sourcePath);
    const target = targetByPath.get(pair.targetPath);
    const context = { takenInPlan: new Set(kept.map((p) => p.targetPath)), freed: none, unavailable, ...files };
    const qualifies =
      source !== undefined &&
      target !== undefined &&
      pair.technology === request.technology &&
      target.reservedFor === source.path &&
      checkTarget(source, target, request.technology, context).failed.length === 0;
    (qualifies ? kept : dropped).push(pair);
  }
  const freed = new Set(dropped.filter((p) => getVolume(db, p.targetPath)?.reservedFor === p.sourcePath).map((p) => p.targetPath));
  const taken = new Set(kept.map((p) => p.targetPath));
  const paired = new Set(kept.map((p) => p.sourcePath));
  const added: CopyPair[] = [];
  for (const source of sources) {
    if (paired.has(source.path)) continue;
    const selection = selectTarget({ source, candidates, technology: request.technology, takenInPlan: taken, freed, unavailable, ...files });
    if (!selection.ok) return { ok: false, sourcePath: source.path, rejections: selection.rejections };
    taken.add(selection.target.path);
    added.push({ sourcePath: source.path, targetPath: selection.target.path, technology: request.technology });
  }
  const pairs = [...kept, ...added].sort((a, b) => (a.sourcePath < b.sourcePath ? -1 : 1));
  return { ok: true, plan: { basis, basisVersion: rr ? (previous?.version ?? null) : null, pairs, dropped, added } };
}

/** Breaks pairs: each target still reserved for its pair's source becomes free. */
export function breakPairs(db: Db, pairs: readonly CopyPair[]): void {
  const release = db.prepare('UPDATE volumes SET reserved_for = NULL, reserved_in_version = NULL WHERE path = ? AND reserved_for = ?');
  for (const pair of pairs) release.run(pair.targetPath, pair.sourcePath);
}

/** Breaks the pairs no RR holds: a pair an RR also holds stays reserved until the next version of its pool breaks it. */
export function breakPairsNoRrHolds(db: Db, pairs: readonly CopyPair[]): void {
  const key = (p: CopyPair): string => `${p.sourcePath}\u0000${p.targetPath}`;
  const held = new Set(
    listRecords(db)
      .filter((r) => r.kind === 'RR')
      .flatMap((r) => r.pairs.map(key)),
  );
  breakPairs(
    db,
    pairs.filter((p) => !held.has(key(p))),
  );
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
