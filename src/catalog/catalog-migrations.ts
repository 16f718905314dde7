/**
 * The catalog's schema, as an ordered list of migrations (native-layout/catalog-schema.md).
 *
 * Invariants:
 * - migration n brings `schema_version.version` from n-1 to n; each runs in one transaction, so a
 *   crash leaves the catalog at n-1 or n, never between;
 * - a migration is never edited once released: a change of schema is a new migration.
 */

export interface Migration {
  readonly version: number;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE volumes (
        path TEXT PRIMARY KEY,
        volser TEXT NOT NULL,
        format TEXT NOT NULL CHECK (format IN ('ckd', 'fba')),
        device_type TEXT NOT NULL,
        heads INTEGER NOT NULL,
        cylinders INTEGER NOT NULL,
        units INTEGER NOT NULL,
        technology TEXT CHECK (technology IN ('tape', 'clone', 'snapshot')),
        reserved_for TEXT,
        reserved_in_version INTEGER
      );
      CREATE TABLE pools (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('source', 'target'))
      );
      CREATE TABLE pool_members (
        pool TEXT NOT NULL REFERENCES pools(name),
        volume_path TEXT NOT NULL REFERENCES volumes(path),
        PRIMARY KEY (pool, volume_path)
      );
      CREATE TABLE source_datasets (
        dataset TEXT NOT NULL,
        source_path TEXT NOT NULL REFERENCES volumes(path),
        PRIMARY KEY (dataset, source_path)
      );
      CREATE TABLE versions (
        version INTEGER PRIMARY KEY,
        source_pool TEXT NOT NULL,
        target_pool TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('creating', 'complete', 'replaced')),
        basis TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        instant TEXT,
        completed_at TEXT
      );
      CREATE TABLE backup_datasets (
        version INTEGER NOT NULL,
        dataset TEXT NOT NULL,
        source_path TEXT NOT NULL,
        PRIMARY KEY (version, dataset, source_path)
      );
      CREATE TABLE storage_media (
        version INTEGER NOT NULL,
        source_path TEXT NOT NULL,
        target_path TEXT NOT NULL,
        tape_path TEXT NOT NULL,
        instant TEXT NOT NULL,
        PRIMARY KEY (version, source_path)
      );
      CREATE TABLE records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('PPR', 'RR', 'COPY')),
        version INTEGER NOT NULL,
        target_pool TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (kind, version)
      );
      CREATE TABLE record_pairs (
        record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        source_path TEXT NOT NULL,
        target_path TEXT NOT NULL,
        technology TEXT NOT NULL,
        PRIMARY KEY (record_id, source_path)
      );
      CREATE TABLE notifications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        version INTEGER,
        target_pool TEXT NOT NULL,
        source_path TEXT NOT NULL,
        message TEXT NOT NULL,
        failed_checks TEXT NOT NULL
      );
    `,
  },
  {
    // Issue 21: a PPR knows its source pool, so it can follow the pool's joins and leaves; the
    // storage media inventory names every copy (a tape, or the target volume of a clone or a
    // snapshot) with its technology, so every version restores. A tape written onto its target
    // volume names its first block; a row of migration 1 names a tape file (NULL: from its start).
    version: 2,
    sql: `
      ALTER TABLE records ADD COLUMN source_pool TEXT;
      ALTER TABLE storage_media RENAME COLUMN tape_path TO copy_path;
      ALTER TABLE storage_media ADD COLUMN technology TEXT NOT NULL DEFAULT 'tape' CHECK (technology IN ('tape', 'clone', 'snapshot'));
      ALTER TABLE storage_media ADD COLUMN tape_start_block INTEGER;
      `,
  },
  {
    // Tape libraries (issue 24): a library directory of cartridges, its volser-range pools, and
    // each cartridge's state, place and protection. `location` also names the places the S3 vault
    // uses ('vaulted', 'recalling'), and `vault_url` the s3:// prefix that holds a vaulted cartridge.
    version: 3,
    sql: `
      CREATE TABLE libraries (
        path TEXT PRIMARY KEY,
        media TEXT NOT NULL,
        capacity_bytes INTEGER NOT NULL CHECK (capacity_bytes > 0),
        slots INTEGER NOT NULL CHECK (slots > 0),
        drives INTEGER NOT NULL CHECK (drives > 0),
        created_at TEXT NOT NULL
      );
      CREATE TABLE library_pools (
        library TEXT NOT NULL REFERENCES libraries(path),
        name TEXT NOT NULL,
        first_volser TEXT NOT NULL,
        last_volser TEXT NOT NULL,
        retention_days INTEGER NOT NULL CHECK (retention_days >= 0),
        worm INTEGER NOT NULL CHECK (worm IN (0, 1)),
        storage_class TEXT,
        PRIMARY KEY (library, name)
      );
      CREATE TABLE cartridges (
        library TEXT NOT NULL REFERENCES libraries(path),
        volser TEXT NOT NULL,
        barcode TEXT NOT NULL,
        pool TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('scratch', 'private')),
        location TEXT NOT NULL CHECK (location IN ('slot', 'drive', 'ejected', 'vaulted', 'recalling')),
        slot INTEGER,
        drive INTEGER,
        worm INTEGER NOT NULL CHECK (worm IN (0, 1)),
        expires_at TEXT,
        written_at TEXT,
        set_id TEXT,
        set_sequence INTEGER,
        sha256 TEXT,
        vault_url TEXT,
        PRIMARY KEY (library, volser),
        UNIQUE (library, slot),
        UNIQUE (library, drive)
      );
    `,
  },
];
