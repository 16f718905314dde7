/**
 * Volumes joining and leaving pools (issue 21): the membership change and the pre-pairing records
 * it touches, in one transaction. A PPR of a version not yet made follows its pools:
 * - a source leaves its source pool: its pair is dropped from the PPR, its target freed (unless an
 *   RR holds the same pair: the next version breaks that one);
 * - a source joins: the PPR pairs it by target selection when a target qualifies;
 * - a target leaves its target pool: its source is paired again by target selection, or its pair is
 *   dropped when no target qualifies;
 * - a target joins: each source the PPR left without a pair is paired when the target qualifies.
 * Every change to a PPR, and every join or leave that leaves a source unpaired, is a notification
 * (`version ls`).
 */
import { deleteMember, getVolume, insertMember, poolVolumes, type Technology, type VolumeFacts, type VolumeRecord } from '../../catalog/catalog-inventory.js';
import { addNotification, pendingPprs, writeRecord, type CopyPair, type PairRecord } from '../../catalog/catalog-records.js';
import type { Catalog, Db } from '../../catalog/catalog.js';
import { breakPairsNoRrHolds, reserveTargets } from './copy-record-plan.js';
import { describeRejections, failedChecks, selectTarget, type Selection } from './target-selection.js';
import { fileIdentities, refreshTargetFacts } from './volume-facts.js';

/** One change a join or leave made to a pre-pairing record, as notified. */
export interface PprChange {
  readonly version: number;
  readonly message: string;
}

const bySource = (a: CopyPair, b: CopyPair): number => (a.sourcePath < b.sourcePath ? -1 : a.sourcePath > b.sourcePath ? 1 : 0);

type Pairing = { readonly ok: true; readonly pair: CopyPair } | { readonly ok: false; readonly message: string; readonly checks: readonly string[] };

class PprEditor {
  readonly changes: PprChange[] = [];

  constructor(readonly db: Db) {}

  note(ppr: PairRecord, sourcePath: string, message: string, checks: readonly string[] = []): void {
    addNotification(this.db, { version: ppr.version, targetPool: ppr.targetPool, sourcePath, message, failedChecks: checks });
    this.changes.push({ version: ppr.version, message });
  }

  /** Target selection for `source` in the PPR's target pool, every candidate's facts read again. */
  select(ppr: PairRecord, source: VolumeRecord, taken: ReadonlySet<string>, technology: Technology): Selection {
    const unavailable = refreshTargetFacts(
      this.db,
      poolVolumes(this.db, ppr.targetPool).map((v) => v.path),
    );
    const candidates = poolVolumes(this.db, ppr.targetPool);
    const sourcePaths = ppr.sourcePool == null ? [source.path] : poolVolumes(this.db, ppr.sourcePool).map((v) => v.path);
    const fileOf = fileIdentities([...sourcePaths, source.path, ...candidates.map((v) => v.path)]);
    return selectTarget({
      source,
      candidates,
      technology,
      takenInPlan: taken,
      freed: new Set(),
      unavailable,
      fileOf,
      sourcePaths: [...sourcePaths, source.path],
    });
  }
}

/** A PPR with no pair left takes the technology of its target pool's members. */
function pprTechnology(db: Db, ppr: PairRecord): Technology {
  return poolVolumes(db, ppr.targetPool).find((v) => v.technology !== null)?.technology ?? 'tape';
}

/** Pairs `source` in the PPR's target pool, with the technology of the PPR's pairs. */
function pairSource(editor: PprEditor, ppr: PairRecord, source: VolumeRecord, technology: Technology): Pairing {
  const taken = new Set(ppr.pairs.map((p) => p.targetPath));
  const selection = editor.select(ppr, source, taken, technology);
  if (selection.ok) return { ok: true, pair: { sourcePath: source.path, targetPath: selection.target.path, technology } };
  return {
    ok: false,
    message: describeRejections({ sourcePath: source.path, targetPool: ppr.targetPool, rejections: selection.rejections }),
    checks: failedChecks(selection.rejections),
  };
}

function rewrite(db: Db, ppr: PairRecord, pairs: readonly CopyPair[]): PairRecord {
  const next = { ...ppr, pairs: [...pairs].sort(bySource) };
  writeRecord(db, next);
  return next;
}

/** Adds a volume to a pool and updates the PPRs that pair that pool. Returns what changed in them. */
export function joinPool(catalog: Catalog, pool: string, facts: VolumeFacts, technology: Technology | null): PprChange[] {
  return catalog.write((db) => {
    const role = insertMember(db, pool, facts, technology);
    const editor = new PprEditor(db);
    for (let ppr of pendingPprs(db, role === 'source' ? { sourcePool: pool } : { targetPool: pool })) {
      const sourcePool = ppr.sourcePool;
      if (sourcePool == null) continue;
      const technology = ppr.pairs[0]?.technology ?? pprTechnology(db, ppr);
      const joined = role === 'source' ? [facts.path] : poolVolumes(db, sourcePool).map((v) => v.path);
      for (const path of joined) {
        if (ppr.pairs.some((p) => p.sourcePath === path)) continue;
        const source = getVolume(db, path);
        if (!source) continue;
        const outcome = pairSource(editor, ppr, source, technology);
        const why = `PPR ${ppr.version}: ${facts.path} joined pool ${pool}`;
        if (!outcome.ok) {
          // A target that joins and does not qualify changes nothing: only a joining source is told.
          if (role === 'source') editor.note(ppr, path, `${why}: ${path} not paired (${outcome.message})`, outcome.checks);
          continue;
        }
        reserveTargets(db, [outcome.pair], null);
        ppr = rewrite(db, ppr, [...ppr.pairs, outcome.pair]);
        editor.note(ppr, path, `${why}: pair ${outcome.pair.sourcePath} -> ${outcome.pair.targetPath} added`);
      }
    }
    return editor.changes;
  });
}

/** Removes a volume from its pool and updates the PPRs that pair that pool. Returns what changed in them. */
export function leavePool(catalog: Catalog, pool: string, path: string): PprChange[] {
  return catalog.write((db) => {
    const role = deleteMember(db, pool, path);
    const editor = new PprEditor(db);
    for (const ppr of pendingPprs(db, role === 'source' ? { sourcePool: pool } : { targetPool: pool })) {
      const pair = ppr.pairs.find((p) => (role === 'source' ? p.sourcePath : p.targetPath) === path);
      if (!pair || (role === 'source' ? ppr.sourcePool !== pool : ppr.targetPool !== pool)) continue;
      const others = ppr.pairs.filter((p) => p !== pair);
      const why = `PPR ${ppr.version}: ${path} left pool ${pool}: pair ${pair.sourcePath} -> ${pair.targetPath}`;
      const source = role === 'target' ? getVolume(db, pair.sourcePath) : undefined;
      const outcome = source ? pairSource(editor, { ...ppr, pairs: others }, source, pair.technology) : undefined;
      if (outcome?.ok) {
        reserveTargets(db, [outcome.pair], null);
        rewrite(db, ppr, [...others, outcome.pair]);
        editor.note(ppr, pair.sourcePath, `${why} moved to ${outcome.pair.targetPath}`);
        continue;
      }
      rewrite(db, ppr, others);
      breakPairsNoRrHolds(db, [pair]);
      editor.note(ppr, pair.sourcePath, `${why} dropped${outcome ? ` (${outcome.message})` : ''}`, outcome?.checks ?? []);
    }
    return editor.changes;
  });
}
