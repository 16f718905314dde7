/**
 * `version create` and `version prepair` (issue 9, Build 3 and 4).
 *
 * A create runs in three steps, each of the two catalog steps one transaction:
 * 1. plan and reserve: the verified copy record is written as COPY, the version row as `creating`
 *    with this pid, new targets reserved `in` this version (catalog-recovery.ts undoes all of this
 *    when the pid dies);
 * 2. copy: each pair with its technology (tape: a backup of the whole source volume onto a tape
 *    written on the target FBA volume from block 2, after its label; snapshot: an instant whole-volume snapshot
 *    between mapped volumes, keeping the target's volser; clone: a full clone onto the target);
 * 3. complete: the RR, storage media and backup data sets are written, the RR is compared with the
 *    COPY record, removed sources' pairs are broken, the PPR and RR of the replaced version deleted.
 */
import { openVolume } from '../../volume/open-volume.js';
import { describeVolume } from '../../vtoc/volume-listing.js';
import { runClone } from '../clone/clone-run.js';
import type { EventLogger } from '../../base/log.js';
import { LOG_EVENTS } from '../../base/log.js';
import { getVolume, setSourceDatasets, type Technology } from '../../catalog/catalog-inventory.js';
import {
  addNotification,
  deleteRecord,
  getVersion,
  nextVersionNumber,
  previousVersionOfPool,
  readRecord,
  writeRecord,
  type CopyPair,
  type PairRecord,
  type RecordBasis,
} from '../../catalog/catalog-records.js';
import type { Catalog } from '../../catalog/catalog.js';
import { SessionError, UsageError } from '../../errors/snaptape-error.js';
import { SnapshotSession } from '../snapshot/snapshot-session.js';
import { TapeBackupSession } from '../tape-backup/tape-backup-session.js';
import { breakPairs, breakPairsNoRrHolds, planCopyRecord, reserveTargets, type PlanOutcome } from './copy-record-plan.js';
import { describeRejections, failedChecks, TAPE_START_BLOCK } from './target-selection.js';
import type { OnPhaseProgress } from '../../base/phase-progress.js';
import type { BackupProgress } from '../tape-backup/backup-types.js';

export interface CreateVersionOptions {
  readonly sourcePool: string;
  readonly targetPool: string;
  /** Default: one past the highest version in the catalog. */
  readonly version?: number;
  readonly technology?: Technology;
  readonly log?: EventLogger;
  /**
   * The copies as one phase, copy: the tape pairs' backups together (their units copied of the
   * units of all their sources), then each clone pair's copy in turn. Snapshots are instant.
   */
  readonly onProgress?: OnPhaseProgress;
  /** Test hook: called between the copy and the completing transaction. */
  readonly beforeComplete?: () => Promise<void>;
}

export interface RecordComparison {
  readonly equal: boolean;
  readonly onlyInCopyRecord: readonly CopyPair[];
  readonly onlyInRr: readonly CopyPair[];
}

export interface CreateVersionResult {
  readonly version: number;
  readonly targetPool: string;
  readonly basis: RecordBasis;
  readonly basisVersion: number | null;
  /** The verified copy record before the copies ran (T_n). */
  readonly copyRecord: readonly CopyPair[];
  readonly dropped: readonly CopyPair[];
  readonly added: readonly CopyPair[];
  /** The RR written after the copies (T_n+). */
  readonly rr: PairRecord;
  readonly comparison: RecordComparison;
  readonly replacedVersion: number | null;
  readonly instant: string;
}

const pairKey = (p: CopyPair): string => `${p.sourcePath}\u0000${p.targetPath}\u0000${p.technology}`;

export function compareRecords(copyRecord: readonly CopyPair[], rr: readonly CopyPair[]): RecordComparison {
  const a = new Set(copyRecord.map(pairKey));
  const b = new Set(rr.map(pairKey));
  const onlyInCopyRecord = copyRecord.filter((p) => !b.has(pairKey(p)));
  const onlyInRr = rr.filter((p) => !a.has(pairKey(p)));
  return { equal: onlyInCopyRecord.length === 0 && onlyInRr.length === 0, onlyInCopyRecord, onlyInRr };
}

/** Where the copy of a pair lives: on its target volume, for every technology (a tape pair's tape is written onto it). */
export function copyPathFor(pair: CopyPair): string {
  return pair.targetPath;
}

/** Records the notification of a failed target selection (own transaction), logs it, throws. */
function failSelection(
  catalog: Catalog,
  outcome: Extract<PlanOutcome, { ok: false }>,
  context: { version: number | null; targetPool: string; log?: EventLogger },
): never {
  const message = describeRejections({ sourcePath: outcome.sourcePath, targetPool: context.targetPool, rejections: outcome.rejections });
  const checks = failedChecks(outcome.rejections);
  catalog.write((db) =>
    addNotification(db, { version: context.version, targetPool: context.targetPool, sourcePath: outcome.sourcePath, message, failedChecks: checks }),
  );
  context.log?.(LOG_EVENTS.versionNotification, { targetPool: context.targetPool, sourcePath: outcome.sourcePath, failedChecks: checks, message });
  throw new SessionError(message, { targetPool: context.targetPool, source: outcome.sourcePath, failedChecks: checks.join(',') });
}

/** Drops the PPR of a future version; the targets it reserved are freed unless an RR holds the same pair. Throws UsageError when there is no such PPR. */
export function unprepairVersion(catalog: Catalog, version: number): PairRecord {
  return catalog.write((db) => {
    const ppr = readRecord(db, 'PPR', version);
    if (!ppr) throw new UsageError(`Cannot drop the pre-pairing record of version ${version}: the catalog has none`);
    deleteRecord(db, 'PPR', version);
    breakPairsNoRrHolds(db, ppr.pairs);
    return ppr;
  });
}

/** Makes the PPR for a future version ahead of the copy window; its targets stay reserved. */
export function prepairVersion(catalog: Catalog, options: CreateVersionOptions & { readonly version: number }): PairRecord {
  const technology = options.technology ?? 'tape';
  const outcome = catalog.write((db) => {
    if (getVersion(db, options.version)) throw new UsageError(`Cannot prepair version ${options.version}: it exists`);
    const planned = planCopyRecord(db, { version: options.version, sourcePool: options.sourcePool, targetPool: options.targetPool, technology, usePpr: false });
    if (!planned.ok) return planned;
    breakPairs(db, planned.plan.dropped);
    reserveTargets(db, planned.plan.added, null);
    const ppr: PairRecord = {
      kind: 'PPR',
      version: options.version,
      targetPool: options.targetPool,
      sourcePool: options.sourcePool,
      pairs: planned.plan.pairs,
    };
    writeRecord(db, ppr);
    return { ok: true as const, ppr };
  });
  if (!outcome.ok) failSelection(catalog, outcome, { version: options.version, targetPool: options.targetPool, log: options.log });
  return outcome.ppr;
}

function datasetNames(path: string): string[] {
  const volume = openVolume(path, { readOnly: true });
  try {
    return describeVolume(volume).datasets.map((d) => d.name);
  } finally {
    volume.close();
  }
}

/**
 * Runs every pair's copy. Instant snapshots are taken first, then every tape session starts before
 * any is awaited, so the version's instant is one moment for all of those; clones run after.
 */
async function runCopies(
  pairs: readonly CopyPair[],
  targetVolsers: ReadonlyMap<string, string>,
  onProgress?: OnPhaseProgress,
): Promise<{ instant: string; datasets: Map<string, string[]> }> {
  const datasets = new Map<string, string[]>();
  const sessions: { done: Promise<unknown>; close: () => void }[] = [];
  // The tape sessions' last progress each, summed into the one copy phase.
  const tapes: BackupProgress[] = [];
  let tapeUnit = 'tracks';
  const reportTapes = (): void => {
    const done = tapes.reduce((n, p) => n + p.copiedInOrder + p.copiedOutOfOrder, 0);
    onProgress?.({ phase: 'copy', done, total: tapes.reduce((n, p) => n + p.slotsTotal, 0), unit: tapeUnit });
  };
  const clones: CopyPair[] = [];
  try {
    for (const pair of pairs.filter((p) => p.technology === 'snapshot')) {
      datasets.set(pair.sourcePath, datasetNames(pair.sourcePath));
      // A whole-volume snapshot gives the target a volser of its own: the one it has in the inventory.
      new SnapshotSession(pair.sourcePath, pair.targetPath, { volser: targetVolsers.get(pair.targetPath) }).start();
    }
    for (const pair of pairs) {
      if (pair.technology === 'snapshot') continue;
      if (pair.technology === 'clone') {
        clones.push(pair);
        continue;
      }
      const volume = openVolume(pair.sourcePath);
      try {
        datasets.set(
          pair.sourcePath,
          describeVolume(volume).datasets.map((d) => d.name),
        );
        const session = TapeBackupSession.start(volume, { tapePath: pair.targetPath, tapeStartBlock: TAPE_START_BLOCK, force: true });
        sessions.push({ done: session.done, close: () => volume.close() });
        if (onProgress) {
          const index = tapes.push(session.progress()) - 1;
          if (volume.geometry.kind !== 'ckd') tapeUnit = 'units';
          session.on('progress', (p: BackupProgress) => {
            tapes[index] = p;
            reportTapes();
          });
        }
      } catch (error) {
        volume.close();
        throw error;
      }
    }
    const instant = new Date().toISOString();
    if (tapes.length > 0) reportTapes();
    await Promise.all(sessions.map((s) => s.done));
    for (const pair of clones) {
      datasets.set(pair.sourcePath, datasetNames(pair.sourcePath));
      await runClone(pair.sourcePath, pair.targetPath, { onProgress });
    }
    return { instant, datasets };
  } finally {
    await Promise.allSettled(sessions.map((s) => s.done));
    sessions.forEach((s) => s.close());
  }
}

/** Creates a copy version: copies each volume of the source pool into the next target pool with the given technology and records it in the catalog. Throws UsageError when the version exists or the pools do not fit, SessionError when a copy fails. */
export async function createVersion(catalog: Catalog, options: CreateVersionOptions): Promise<CreateVersionResult> {
  const technology = options.technology ?? 'tape';
  const begun = catalog.write((db) => {
    const version = options.version ?? nextVersionNumber(db);
    if (getVersion(db, version)) throw new UsageError(`Cannot create version ${version}: it exists`);
    // One version of a target pool at a time: a second would pair the same targets (reserved for
    // its own sources), copy onto them after the first, and might complete before it, leaving two
    // complete versions on one set of targets. (A dead creator's row is released at catalog open.)
    const busy = db
      .prepare("SELECT version, pid FROM versions WHERE target_pool = ? AND state = 'creating' ORDER BY version LIMIT 1")
      .get(options.targetPool) as { version: number; pid: number } | undefined;
    if (busy)
      throw new UsageError(
        `Cannot create version ${version} in pool ${options.targetPool}: version ${busy.version} is being created into pool ${options.targetPool} (process ${busy.pid}); wait for it`,
        { targetPool: options.targetPool, version: busy.version, pid: busy.pid },
      );
    const planned = planCopyRecord(db, { version, sourcePool: options.sourcePool, targetPool: options.targetPool, technology, usePpr: true });
    if (!planned.ok) return { ...planned, version };
    db.prepare(`INSERT INTO versions (version, source_pool, target_pool, state, basis, pid, started_at) VALUES (?, ?, ?, 'creating', ?, ?, ?)`).run(
      version,
      options.sourcePool,
      options.targetPool,
      planned.plan.basis,
      process.pid,
      new Date().toISOString(),
    );
    writeRecord(db, { kind: 'COPY', version, targetPool: options.targetPool, sourcePool: options.sourcePool, pairs: planned.plan.pairs });
    // Step 614: the broken pairs' targets are free before the new pairs reserve theirs, since a
    // new pair may take one of them.
    breakPairs(db, planned.plan.dropped);
    reserveTargets(db, planned.plan.added, version);
    const targetVolsers = new Map(planned.plan.pairs.map((p) => [p.targetPath, getVolume(db, p.targetPath)?.volser ?? '']));
    return { ok: true as const, version, plan: planned.plan, targetVolsers };
  });
  if (!begun.ok) failSelection(catalog, begun, { version: begun.version, targetPool: options.targetPool, log: options.log });
  const { version, plan, targetVolsers } = begun;
  let copied: Awaited<ReturnType<typeof runCopies>>;
  try {
    copied = await runCopies(plan.pairs, targetVolsers, options.onProgress);
    await options.beforeComplete?.();
  } catch (error) {
    abandonVersion(catalog, version);
    throw error;
  }
  return catalog.write((db) => {
    const copyRecord = readRecord(db, 'COPY', version);
    if (!copyRecord || getVersion(db, version)?.state !== 'creating') throw new SessionError(`Cannot complete version ${version}: its creating record is gone`);
    const rr: PairRecord = { kind: 'RR', version, targetPool: options.targetPool, sourcePool: options.sourcePool, pairs: plan.pairs };
    writeRecord(db, rr);
    const comparison = compareRecords(copyRecord.pairs, rr.pairs);
    const medium = db.prepare(
      'INSERT INTO storage_media (version, source_path, target_path, technology, copy_path, tape_start_block, instant) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const pair of plan.pairs) {
      const startBlock = pair.technology === 'tape' ? TAPE_START_BLOCK : null;
      medium.run(version, pair.sourcePath, pair.targetPath, pair.technology, copyPathFor(pair), startBlock, copied.instant);
    }
    const backup = db.prepare('INSERT OR IGNORE INTO backup_datasets (version, dataset, source_path) VALUES (?, ?, ?)');
    for (const [sourcePath, names] of copied.datasets) {
      setSourceDatasets(db, sourcePath, names);
      for (const name of names) backup.run(version, name, sourcePath);
    }
    db.prepare('UPDATE volumes SET reserved_in_version = NULL WHERE reserved_in_version = ?').run(version);
    const replaced = previousVersionOfPool(db, options.targetPool, version);
    if (replaced) {
      // A pair of the replaced version that this version does not hold is broken (its source left
      // while a PPR was made without it, say): no record holds it any more.
      const kept = new Set(plan.pairs.map(pairKey));
      const old = [readRecord(db, 'RR', replaced.version), readRecord(db, 'PPR', replaced.version)].flatMap((r) => r?.pairs ?? []);
      breakPairs(
        db,
        old.filter((p) => !kept.has(pairKey(p))),
      );
      deleteRecord(db, 'RR', replaced.version);
      deleteRecord(db, 'PPR', replaced.version);
      db.prepare("UPDATE versions SET state = 'replaced' WHERE version = ?").run(replaced.version);
    }
    deleteRecord(db, 'PPR', version);
    deleteRecord(db, 'COPY', version);
    db.prepare("UPDATE versions SET state = 'complete', instant = ?, completed_at = ? WHERE version = ?").run(
      copied.instant,
      new Date().toISOString(),
      version,
    );
    options.log?.(LOG_EVENTS.versionCreated, { version, targetPool: options.targetPool, basis: plan.basis, pairs: plan.pairs.length, instant: copied.instant });
    return {
      version,
      targetPool: options.targetPool,
      basis: plan.basis,
      basisVersion: plan.basisVersion,
      copyRecord: copyRecord.pairs,
      dropped: plan.dropped,
      added: plan.added,
      rr,
      comparison,
      replacedVersion: replaced?.version ?? null,
      instant: copied.instant,
    };
  });
}

/** Undoes step 1 after a failed copy, as crash recovery would. */
function abandonVersion(catalog: Catalog, version: number): void {
  catalog.write((db) => {
    db.prepare('UPDATE volumes SET reserved_for = NULL, reserved_in_version = NULL WHERE reserved_in_version = ?').run(version);
    deleteRecord(db, 'COPY', version);
    db.prepare("DELETE FROM versions WHERE version = ? AND state = 'creating'").run(version);
  });
}
