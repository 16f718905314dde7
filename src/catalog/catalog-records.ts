/**
 * Copy pairs and the records that hold them: pre-pairing records (PPR), replication records (RR)
 * and the copy record (COPY) of a version being made; the version rows, the storage media
 * inventory (volume → tape, stamped with the version's instant), the backup data set inventory and
 * the target-selection notifications. Functions taking a `Db` run inside the caller's transaction.
 */
import type { Technology } from './catalog-inventory.js';
import type { Db } from './catalog.js';

export type RecordKind = 'PPR' | 'RR' | 'COPY';
export type VersionState = 'creating' | 'complete' | 'replaced';
/** Where the copy record of a version came from (issue 9, Copy method). */
export type RecordBasis = 'PPR' | 'RR' | 'fresh';

export interface CopyPair {
  readonly sourcePath: string;
  readonly targetPath: string;
  readonly technology: Technology;
}

export interface PairRecord {
  readonly kind: RecordKind;
  readonly version: number;
  readonly targetPool: string;
  /** The source pool a PPR pairs (so it follows that pool's joins and leaves); null when unknown. */
  readonly sourcePool?: string | null;
  readonly pairs: readonly CopyPair[];
}

export interface VersionRecord {
  readonly version: number;
  readonly sourcePool: string;
  readonly targetPool: string;
  readonly state: VersionState;
  readonly basis: RecordBasis;
  readonly pid: number;
  readonly startedAt: string;
  readonly instant: string | null;
  readonly completedAt: string | null;
}

export interface StorageMedium {
  readonly version: number;
  readonly sourcePath: string;
  readonly targetPath: string;
  readonly technology: Technology;
  /** Where the copy lives: the tape file of a tape pair, the target volume of a clone or snapshot pair. */
  readonly copyPath: string;
  /** The block of `copyPath` (an FBA volume) where a tape pair's tape starts; null for a tape file (catalogs before migration 2) or a volume copy. */
  readonly tapeStartBlock: number | null;
  readonly instant: string;
}

export interface Notification {
  readonly id: number;
  readonly at: string;
  readonly version: number | null;
  readonly targetPool: string;
  readonly sourcePath: string;
  readonly message: string;
  readonly failedChecks: readonly string[];
}

function byPath(a: CopyPair, b: CopyPair): number {
  return a.sourcePath < b.sourcePath ? -1 : a.sourcePath > b.sourcePath ? 1 : 0;
}

export function readRecord(db: Db, kind: RecordKind, version: number): PairRecord | undefined {
  const row = db.prepare('SELECT id, target_pool, source_pool FROM records WHERE kind = ? AND version = ?').get(kind, version) as
    { id: number; target_pool: string; source_pool: string | null } | undefined;
  if (!row) return undefined;
  const pairs = (
    db.prepare('SELECT source_path, target_path, technology FROM record_pairs WHERE record_id = ?').all(row.id) as {
      source_path: string;
      target_path: string;
      technology: Technology;
    }[]
  )
    .map((p) => ({ sourcePath: p.source_path, targetPath: p.target_path, technology: p.technology }))
    .sort(byPath);
  return { kind, version, targetPool: row.target_pool, sourcePool: row.source_pool, pairs };
}

/** The pair records (PPR and copy records) of every version, by version. */
export function listRecords(db: Db): PairRecord[] {
  const rows = db.prepare('SELECT kind, version FROM records ORDER BY version, kind').all() as { kind: RecordKind; version: number }[];
  return rows.map((r) => readRecord(db, r.kind, r.version)).filter((r): r is PairRecord => r !== undefined);
}

export function writeRecord(db: Db, record: PairRecord): void {
  deleteRecord(db, record.kind, record.version);
  const info = db
    .prepare('INSERT INTO records (kind, version, target_pool, source_pool, created_at) VALUES (?, ?, ?, ?, ?)')
    .run(record.kind, record.version, record.targetPool, record.sourcePool ?? null, new Date().toISOString());
  const insert = db.prepare('INSERT INTO record_pairs (record_id, source_path, target_path, technology) VALUES (?, ?, ?, ?)');
  for (const pair of record.pairs) insert.run(info.lastInsertRowid, pair.sourcePath, pair.targetPath, pair.technology);
}

/**
 * The PPRs of versions not yet made that pair `sourcePool`, or pair into `targetPool`. The PPR of a
 * version being created is not pending: its pairs are that version's COPY record now, copied as
 * they stand, so a join or leave must not edit it (nor free its targets while they are copied onto).
 */
export function pendingPprs(db: Db, pool: { sourcePool?: string; targetPool?: string }): PairRecord[] {
  const rows = db
    .prepare(
      "SELECT version FROM records WHERE kind = 'PPR' AND (source_pool = ? OR target_pool = ?) AND version NOT IN (SELECT version FROM versions) ORDER BY version",
    )
    .all(pool.sourcePool ?? null, pool.targetPool ?? null) as { version: number }[];
  return rows.map((r) => readRecord(db, 'PPR', r.version)).filter((r): r is PairRecord => r !== undefined);
}

export function deleteRecord(db: Db, kind: RecordKind, version: number): void {
  db.prepare('DELETE FROM records WHERE kind = ? AND version = ?').run(kind, version);
}

interface VersionRow {
  version: number;
  source_pool: string;
  target_pool: string;
  state: VersionState;
  basis: RecordBasis;
  pid: number;
  started_at: string;
  instant: string | null;
  completed_at: string | null;
}

function versionOf(r: VersionRow): VersionRecord {
  return {
    version: r.version,
    sourcePool: r.source_pool,
    targetPool: r.target_pool,
    state: r.state,
    basis: r.basis,
    pid: r.pid,
    startedAt: r.started_at,
    instant: r.instant,
    completedAt: r.completed_at,
  };
}

/** Every copy version of the catalog, by number. */
export function listVersions(db: Db): VersionRecord[] {
  return (db.prepare('SELECT * FROM versions ORDER BY version').all() as VersionRow[]).map(versionOf);
}

/** The catalog record of one copy version, or undefined when there is none. */
export function getVersion(db: Db, version: number): VersionRecord | undefined {
  const row = db.prepare('SELECT * FROM versions WHERE version = ?').get(version) as VersionRow | undefined;
  return row ? versionOf(row) : undefined;
}

export function nextVersionNumber(db: Db): number {
  const row = db.prepare('SELECT MAX(version) AS last FROM versions').get() as { last: number | null };
  return (row.last ?? 0) + 1;
}

/** The latest complete version that used `targetPool`, before `version`. */
export function previousVersionOfPool(db: Db, targetPool: string, version: number): VersionRecord | undefined {
  const row = db
    .prepare("SELECT * FROM versions WHERE target_pool = ? AND version < ? AND state = 'complete' ORDER BY version DESC LIMIT 1")
    .get(targetPool, version) as VersionRow | undefined;
  return row ? versionOf(row) : undefined;
}

/** The storage media (target volumes and tapes) of every version, or of one. */
export function listStorageMedia(db: Db, version?: number): StorageMedium[] {
  const rows = (
    version === undefined
      ? db.prepare('SELECT * FROM storage_media ORDER BY version, source_path').all()
      : db.prepare('SELECT * FROM storage_media WHERE version = ? ORDER BY source_path').all(version)
  ) as {
    version: number;
    source_path: string;
    target_path: string;
    technology: Technology;
    copy_path: string;
    tape_start_block: number | null;
    instant: string;
  }[];
  return rows.map((r) => ({
    version: r.version,
    sourcePath: r.source_path,
    targetPath: r.target_path,
    technology: r.technology,
    copyPath: r.copy_path,
    tapeStartBlock: r.tape_start_block,
    instant: r.instant,
  }));
}

/** The data sets a copy version backed up, each with its source volume. */
export function listBackupDatasets(db: Db, version: number): { dataset: string; sourcePath: string }[] {
  return (
    db.prepare('SELECT dataset, source_path FROM backup_datasets WHERE version = ? ORDER BY dataset, source_path').all(version) as {
      dataset: string;
      source_path: string;
    }[]
  ).map((r) => ({ dataset: r.dataset, sourcePath: r.source_path }));
}

export function addNotification(db: Db, n: Omit<Notification, 'id' | 'at'>): void {
  db.prepare('INSERT INTO notifications (at, version, target_pool, source_path, message, failed_checks) VALUES (?, ?, ?, ?, ?, ?)').run(
    new Date().toISOString(),
    n.version,
    n.targetPool,
    n.sourcePath,
    n.message,
    JSON.stringify(n.failedChecks),
  );
}

/** The notifications of the catalog (e.g. pairs broken by a pool change), oldest first. */
export function listNotifications(db: Db): Notification[] {
  const rows = db.prepare('SELECT * FROM notifications ORDER BY id').all() as {
    id: number;
    at: string;
    version: number | null;
    target_pool: string;
    source_path: string;
    message: string;
    failed_checks: string;
  }[];
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    version: r.version,
    targetPool: r.target_pool,
    sourcePath: r.source_path,
    message: r.message,
    failedChecks: JSON.parse(r.failed_checks) as string[],
  }));
}
