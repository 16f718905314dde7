/**
 * The inventories of the catalog: volumes, the pool directory and pool members, source data sets
 * (native-layout/catalog-schema.md). Each exported change is one transaction.
 */
import { UsageError } from '../errors/snaptape-error.js';
import type { Catalog, Db } from './catalog.js';

export type PoolRole = 'source' | 'target';
export type Technology = 'tape' | 'clone' | 'snapshot';
export const TECHNOLOGIES: readonly Technology[] = ['tape', 'clone', 'snapshot'];

/** Target pools are named "01", "02" ... as the operators rotate them. */
const TARGET_POOL_NAME = /^\d{2}$/;

export interface VolumeRecord {
  readonly path: string;
  readonly volser: string;
  readonly format: 'ckd' | 'fba';
  readonly deviceType: string;
  readonly heads: number;
  readonly cylinders: number;
  /** Tracks of a CKD volume, blocks of an FBA one. */
  readonly units: number;
  readonly technology: Technology | null;
  readonly reservedFor: string | null;
  readonly reservedInVersion: number | null;
}

export interface PoolRecord {
  readonly name: string;
  readonly role: PoolRole;
  readonly members: readonly string[];
}

interface VolumeRow {
  path: string;
  volser: string;
  format: 'ckd' | 'fba';
  device_type: string;
  heads: number;
  cylinders: number;
  units: number;
  technology: Technology | null;
  reserved_for: string | null;
  reserved_in_version: number | null;
}

function volumeOf(row: VolumeRow): VolumeRecord {
  return {
    path: row.path,
    volser: row.volser,
    format: row.format,
    deviceType: row.device_type,
    heads: row.heads,
    cylinders: row.cylinders,
    units: row.units,
    technology: row.technology,
    reservedFor: row.reserved_for,
    reservedInVersion: row.reserved_in_version,
  };
}

/** Parses a copy technology name. Throws UsageError for an unknown one. */
export function parseTechnology(value: string): Technology {
  const found = TECHNOLOGIES.find((t) => t === value);
  if (!found) throw new UsageError(`Cannot use copy technology "${value}": it is none of ${TECHNOLOGIES.join(', ')}`);
  return found;
}

/** Creates a source or target pool in the catalog (target pools are named 01, 02, ...). Throws UsageError for a bad target pool name or a pool that exists. */
export function createPool(catalog: Catalog, name: string, role: PoolRole): void {
  if (role === 'target' && !TARGET_POOL_NAME.test(name)) throw new UsageError(`Cannot create target pool "${name}": target pools are named 01, 02, ...`);
  catalog.write((db) => {
    if (db.prepare('SELECT 1 FROM pools WHERE name = ?').get(name)) throw new UsageError(`Cannot create pool ${name}: it exists`);
    db.prepare('INSERT INTO pools (name, role) VALUES (?, ?)').run(name, role);
  });
}

export function poolRole(db: Db, name: string): PoolRole {
  const row = db.prepare('SELECT role FROM pools WHERE name = ?').get(name) as { role: PoolRole } | undefined;
  if (!row) throw new UsageError(`Cannot use pool ${name}: the catalog has no such pool`);
  return row.role;
}

export type VolumeFacts = Omit<VolumeRecord, 'technology' | 'reservedFor' | 'reservedInVersion'>;

/** Adds a volume (described by its caller) to a pool inside the caller's transaction, entering it in the volume inventory. Throws UsageError for a target without technology or a volume in a pool already. */
export function insertMember(db: Db, pool: string, facts: VolumeFacts, technology: Technology | null): PoolRole {
  const role = poolRole(db, pool);
  if (role === 'target' && technology === null) throw new UsageError(`Cannot add ${facts.path} to target pool ${pool}: give its copy technology`);
  const inPool = db.prepare('SELECT pool FROM pool_members WHERE volume_path = ?').get(facts.path) as { pool: string } | undefined;
  if (inPool) throw new UsageError(`Cannot add ${facts.path} to pool ${pool}: it is in pool ${inPool.pool}`);
  db.prepare(
    `INSERT INTO volumes (path, volser, format, device_type, heads, cylinders, units, technology)
    VALUES (@path, @volser, @format, @deviceType, @heads, @cylinders, @units, @technology)
    ON CONFLICT (path) DO UPDATE SET volser = @volser, format = @format, device_type = @deviceType, heads = @heads,
      cylinders = @cylinders, units = @units, technology = @technology`,
  ).run({ ...facts, technology: role === 'target' ? technology : null });
  db.prepare('INSERT INTO pool_members (pool, volume_path) VALUES (?, ?)').run(pool, facts.path);
  return role;
}

/**
 * Removes a volume from a pool inside the caller's transaction; returns the pool's role. A
 * source's pairs are broken by the next version of each target pool; a target that leaves is freed
 * at once (issue 21), and the next version re-pairs its source. Throws UsageError when it is not a
 * member, or a version being created is copying onto it (a pair it newly made, or one it kept).
 */
export function deleteMember(db: Db, pool: string, path: string): PoolRole {
  const role = poolRole(db, pool);
  const gone = db.prepare('DELETE FROM pool_members WHERE pool = ? AND volume_path = ?').run(pool, path);
  if (gone.changes === 0) throw new UsageError(`Cannot remove ${path} from pool ${pool}: it is not a member`);
  if (role === 'target') {
    // The COPY record of a version being created names every target it copies onto: the ones it
    // newly reserved (reserved_in_version) and the ones it kept from a PPR or RR, reserved before it.
    const copying = db
      .prepare(
        `SELECT r.version FROM records r JOIN record_pairs p ON p.record_id = r.id JOIN versions v ON v.version = r.version
        WHERE r.kind = 'COPY' AND v.state = 'creating' AND p.target_path = ? ORDER BY r.version LIMIT 1`,
      )
      .get(path) as { version: number } | undefined;
    const row = db.prepare('SELECT reserved_in_version FROM volumes WHERE path = ?').get(path) as { reserved_in_version: number | null } | undefined;
    const version = copying?.version ?? row?.reserved_in_version;
    if (version != null) throw new UsageError(`Cannot remove ${path} from pool ${pool}: version ${version} is being created onto it`);
    db.prepare('UPDATE volumes SET reserved_for = NULL WHERE path = ?').run(path);
  }
  return role;
}

/** The pools of the catalog with their members, by name. */
export function listPools(db: Db): PoolRecord[] {
  const pools = db.prepare('SELECT name, role FROM pools ORDER BY name').all() as { name: string; role: PoolRole }[];
  const members = db.prepare('SELECT volume_path FROM pool_members WHERE pool = ? ORDER BY volume_path');
  return pools.map((p) => ({ ...p, members: (members.all(p.name) as { volume_path: string }[]).map((m) => m.volume_path) }));
}

export function poolVolumes(db: Db, pool: string): VolumeRecord[] {
  const rows = db.prepare(`SELECT v.* FROM volumes v JOIN pool_members m ON m.volume_path = v.path WHERE m.pool = ? ORDER BY v.path`).all(pool) as VolumeRow[];
  return rows.map(volumeOf);
}

export function getVolume(db: Db, path: string): VolumeRecord | undefined {
  const row = db.prepare('SELECT * FROM volumes WHERE path = ?').get(path) as VolumeRow | undefined;
  return row ? volumeOf(row) : undefined;
}

/** The volume inventory of the catalog, by path. */
export function listVolumes(db: Db): VolumeRecord[] {
  return (db.prepare('SELECT * FROM volumes ORDER BY path').all() as VolumeRow[]).map(volumeOf);
}

/** Replaces the source data set inventory of one source volume. Call inside a transaction. */
export function setSourceDatasets(db: Db, sourcePath: string, datasets: readonly string[]): void {
  db.prepare('DELETE FROM source_datasets WHERE source_path = ?').run(sourcePath);
  const insert = db.prepare('INSERT OR IGNORE INTO source_datasets (dataset, source_path) VALUES (?, ?)');
  for (const name of datasets) insert.run(name, sourcePath);
}
