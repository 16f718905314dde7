/**
 * The tape library tables of the catalog (native-layout/catalog-schema.md, migration 2): one row
 * per library, per pool (a volser range with a retention and a WORM flag) and per cartridge.
 * Functions taking a `Db` run inside the caller's transaction.
 *
 * A cartridge's `slot` is its home slot, kept while it is in a drive (`drive` is then set), and
 * cleared only when it leaves the library (ejected). `location` names where it is now: in its
 * slot, in a drive, ejected, or (for the S3 vault) vaulted or being recalled.
 */
import type { Db } from '../catalog/catalog.js';

export type CartridgeState = 'scratch' | 'private';
export type CartridgeLocation = 'slot' | 'drive' | 'ejected' | 'vaulted' | 'recalling';

export interface LibraryRecord {
  readonly path: string;
  readonly media: string;
  readonly capacityBytes: number;
  readonly slots: number;
  readonly drives: number;
  readonly createdAt: string;
}

export interface LibraryPool {
  readonly name: string;
  readonly firstVolser: string;
  readonly lastVolser: string;
  readonly retentionDays: number;
  readonly worm: boolean;
  /** The S3 storage class its cartridges are vaulted in (STANDARD, GLACIER, DEEP_ARCHIVE…); null: the bucket's default. */
  readonly storageClass: string | null;
}

export interface CartridgeRecord {
  readonly volser: string;
  readonly barcode: string;
  readonly pool: string;
  readonly state: CartridgeState;
  readonly location: CartridgeLocation;
  readonly slot: number | null;
  readonly drive: number | null;
  readonly worm: boolean;
  /** ISO 8601 UTC; null while scratch. */
  readonly expiresAt: string | null;
  readonly writtenAt: string | null;
  /** The backup a private cartridge holds, shared by every cartridge of a multi-volume set. */
  readonly setId: string | null;
  /** 1-based place in its multi-volume set. */
  readonly setSequence: number | null;
  /** SHA-256 of the cartridge file when it was last written or ejected. */
  readonly sha256: string | null;
  /** The s3:// prefix holding a copy of the cartridge (vaulted, or vaulted and recalled); null if never vaulted. */
  readonly vaultUrl: string | null;
}

interface CartridgeRow {
  volser: string;
  barcode: string;
  pool: string;
  state: CartridgeState;
  location: CartridgeLocation;
  slot: number | null;
  drive: number | null;
  worm: number;
  expires_at: string | null;
  written_at: string | null;
  set_id: string | null;
  set_sequence: number | null;
  sha256: string | null;
  vault_url: string | null;
}

function cartridgeOf(row: CartridgeRow): CartridgeRecord {
  return {
    volser: row.volser,
    barcode: row.barcode,
    pool: row.pool,
    state: row.state,
    location: row.location,
    slot: row.slot,
    drive: row.drive,
    worm: row.worm === 1,
    expiresAt: row.expires_at,
    writtenAt: row.written_at,
    setId: row.set_id,
    setSequence: row.set_sequence,
    sha256: row.sha256,
    vaultUrl: row.vault_url,
  };
}

export function insertLibrary(db: Db, library: LibraryRecord): void {
  db.prepare('INSERT INTO libraries (path, media, capacity_bytes, slots, drives, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
    library.path,
    library.media,
    library.capacityBytes,
    library.slots,
    library.drives,
    library.createdAt,
  );
}

export function getLibrary(db: Db, path: string): LibraryRecord | undefined {
  const row = db.prepare('SELECT path, media, capacity_bytes, slots, drives, created_at FROM libraries WHERE path = ?').get(path) as
    { path: string; media: string; capacity_bytes: number; slots: number; drives: number; created_at: string } | undefined;
  if (!row) return undefined;
  return { path: row.path, media: row.media, capacityBytes: row.capacity_bytes, slots: row.slots, drives: row.drives, createdAt: row.created_at };
}

export function upsertPool(db: Db, library: string, pool: LibraryPool): void {
  db.prepare(
    `INSERT INTO library_pools (library, name, first_volser, last_volser, retention_days, worm, storage_class) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (library, name) DO UPDATE SET first_volser = excluded.first_volser, last_volser = excluded.last_volser,
       retention_days = excluded.retention_days, worm = excluded.worm, storage_class = excluded.storage_class`,
  ).run(library, pool.name, pool.firstVolser, pool.lastVolser, pool.retentionDays, pool.worm ? 1 : 0, pool.storageClass);
}

export function listLibraryPools(db: Db, library: string): LibraryPool[] {
  const rows = db
    .prepare('SELECT name, first_volser, last_volser, retention_days, worm, storage_class FROM library_pools WHERE library = ? ORDER BY name')
    .all(library) as {
    name: string;
    first_volser: string;
    last_volser: string;
    retention_days: number;
    worm: number;
    storage_class: string | null;
  }[];
  return rows.map((r) => ({
    name: r.name,
    firstVolser: r.first_volser,
    lastVolser: r.last_volser,
    retentionDays: r.retention_days,
    worm: r.worm === 1,
    storageClass: r.storage_class,
  }));
}

/** A cartridge's columns but its identity, in the order of the statements below. */
function cartridgeValues(c: CartridgeRecord): (string | number | null)[] {
  return [c.barcode, c.pool, c.state, c.location, c.slot, c.drive, c.worm ? 1 : 0, c.expiresAt, c.writtenAt, c.setId, c.setSequence, c.sha256, c.vaultUrl];
}

export function insertCartridge(db: Db, library: string, cartridge: CartridgeRecord): void {
  db.prepare(
    `INSERT INTO cartridges (library, volser, barcode, pool, state, location, slot, drive, worm, expires_at, written_at, set_id, set_sequence, sha256, vault_url)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(library, cartridge.volser, ...cartridgeValues(cartridge));
}

/** Rewrites every column of a cartridge's row but its identity. */
export function updateCartridge(db: Db, library: string, cartridge: CartridgeRecord): void {
  db.prepare(
    `UPDATE cartridges SET barcode = ?, pool = ?, state = ?, location = ?, slot = ?, drive = ?, worm = ?, expires_at = ?, written_at = ?,
       set_id = ?, set_sequence = ?, sha256 = ?, vault_url = ? WHERE library = ? AND volser = ?`,
  ).run(...cartridgeValues(cartridge), library, cartridge.volser);
}

const CARTRIDGE_COLUMNS = 'volser, barcode, pool, state, location, slot, drive, worm, expires_at, written_at, set_id, set_sequence, sha256, vault_url';

export function getCartridge(db: Db, library: string, volser: string): CartridgeRecord | undefined {
  const row = db.prepare(`SELECT ${CARTRIDGE_COLUMNS} FROM cartridges WHERE library = ? AND volser = ?`).get(library, volser) as CartridgeRow | undefined;
  return row && cartridgeOf(row);
}

export function listCartridges(db: Db, library: string): CartridgeRecord[] {
  return (db.prepare(`SELECT ${CARTRIDGE_COLUMNS} FROM cartridges WHERE library = ? ORDER BY volser`).all(library) as CartridgeRow[]).map(cartridgeOf);
}
