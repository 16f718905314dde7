/**
 * The SQLite catalog of copy versions (issue 9): open, migrate, and run every change as one
 * transaction. Two CLI processes may use one catalog at once: WAL mode lets readers run beside the
 * one writer, `busy_timeout` makes a second writer wait instead of failing, and every write is a
 * `BEGIN IMMEDIATE` transaction so that a read-then-write cannot interleave with another writer.
 *
 * Invariants:
 * - `schema_version` holds one row, the number of the last migration applied;
 * - opening a catalog releases what a dead `version create` left behind (catalog-recovery.ts).
 */
import type Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { IoError, SnaptapeError, UsageError } from '../errors/snaptape-error.js';
import { lazyPackage } from '../base/lazy-package.js';
import { MIGRATIONS } from './catalog-migrations.js';
import { recoverStaleCreates } from './catalog-recovery.js';

/** How long a writer waits for another process's transaction: a version commit takes milliseconds,
 *  but a CI machine under load may stall a process for seconds. */
export const CATALOG_BUSY_TIMEOUT_MS = 30_000;

/** The catalog file when neither --catalog nor $SNAPTAPE_CATALOG names one. */
export const DEFAULT_CATALOG_FILE = 'snaptape.db';

export type Db = Database.Database;

/** Loaded by the first catalog opened: most commands open none. */
const sqlite = lazyPackage<typeof Database>('better-sqlite3');

/** The catalog file to use: `explicit`, else $SNAPTAPE_CATALOG, else ./snaptape.db, as an absolute path. */
export function catalogPath(explicit?: string): string {
  return resolve(explicit ?? process.env['SNAPTAPE_CATALOG'] ?? DEFAULT_CATALOG_FILE);
}

export class Catalog {
  // Set once.
  readonly path: string;
  readonly db: Db;

  private constructor(path: string, db: Db) {
    this.path = path;
    this.db = db;
  }

  /**
   * Opens (or, unless `mustExist`, creates) the catalog at `path` and migrates it. Refused, with
   * the file left as it was: a file that is not SQLite (IoError), another program's SQLite
   * database (tables but no schema_version: IoError), a catalog of a newer schema than this
   * snaptape knows (UsageError), a missing file when `mustExist` (IoError).
   */
  static open(path: string, options: { readonly mustExist?: boolean } = {}): Catalog {
    let db: Db;
    try {
      const Sqlite = sqlite();
      db = new Sqlite(path, { fileMustExist: options.mustExist ?? false });
    } catch (error) {
      const why = options.mustExist && !existsSync(path) ? 'it does not exist' : (error as Error).message;
      throw new IoError(`Cannot open catalog ${path}: ${why}`, { path }, { cause: error });
    }
    try {
      db.pragma(`busy_timeout = ${CATALOG_BUSY_TIMEOUT_MS}`);
      // Before anything is written to it (journal_mode writes the file's header).
      checkIsCatalog(db, path);
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      // FULL: in WAL mode NORMAL does not fsync at commit, so a committed version could roll back after a power loss.
      db.pragma('synchronous = FULL');
      const catalog = new Catalog(path, db);
      catalog.migrate();
      recoverStaleCreates(catalog);
      return catalog;
    } catch (error) {
      db.close();
      if (error instanceof SnaptapeError) throw error;
      if ((error as { code?: unknown }).code === 'SQLITE_NOTADB')
        throw new IoError(`Cannot open catalog ${path}: it is not an SQLite database`, { path }, { cause: error });
      throw error;
    }
  }

  static exists(path: string): boolean {
    return existsSync(path);
  }

  /** Runs `body` as one `BEGIN IMMEDIATE` transaction: all of it commits, or none of it. */
  write<T>(body: (db: Db) => T): T {
    return this.db.transaction(() => body(this.db)).immediate();
  }

  schemaVersion(): number {
    const row = this.db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    return row?.version ?? 0;
  }

  private migrate(): void {
    this.write((db) => db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)'));
    for (const migration of MIGRATIONS) {
      // Each migration checks the version again inside its own transaction: another process may
      // have applied it between our check and our lock.
      this.write((db) => {
        const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
        const current = row?.version ?? 0;
        if (current >= migration.version) return;
        db.exec(migration.sql);
        if (row) db.prepare('UPDATE schema_version SET version = ?').run(migration.version);
        else db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(migration.version);
      });
    }
  }

  close(): void {
    this.db.close();
  }
}

/** The last migration this snaptape knows. */
const LAST_MIGRATION = Math.max(...MIGRATIONS.map((m) => m.version));

/**
 * Refuses, before anything is written to it, a database that is not a catalog this snaptape may
 * use: one with tables but no schema_version (another program's), or of a newer schema. An empty
 * database (a new file) is a catalog to be made.
 */
function checkIsCatalog(db: Db, path: string): void {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
  if (tables.length === 0) return;
  if (!tables.includes('schema_version'))
    throw new IoError(`Cannot open catalog ${path}: it is an SQLite database, but not a snaptape catalog (it has no schema_version table)`, { path });
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  const version = row?.version ?? 0;
  if (version > LAST_MIGRATION) {
    throw new UsageError(
      `Cannot open catalog ${path}: its schema version ${version} is newer than the ${LAST_MIGRATION} this snaptape knows (use the snaptape that wrote it, or a newer one)`,
      { path, schemaVersion: version, knownVersion: LAST_MIGRATION },
    );
  }
}

/** Opens the catalog, runs `body`, and closes it whatever happens. */
export async function withCatalog<T>(path: string, body: (catalog: Catalog) => Promise<T> | T): Promise<T> {
  const catalog = Catalog.open(path);
  try {
    return await body(catalog);
  } finally {
    catalog.close();
  }
}
