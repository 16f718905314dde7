/**
 * Unit tests of the catalog: migrations (schema_version, each applied once), WAL and busy timeout,
 * and the recovery of a `creating` version: released when its pid is dead, kept while it lives.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/catalog/catalog-migrations.js';
import { recoverStaleCreates } from '../../src/catalog/catalog-recovery.js';
import { listRecords, listVersions, writeRecord } from '../../src/catalog/catalog-records.js';
import { CATALOG_BUSY_TIMEOUT_MS, Catalog } from '../../src/catalog/catalog.js';
import { runBackup } from '../../src/api/backup-api.js';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/volume/open-volume.js';
import { IoError, UsageError } from '../../src/errors/snaptape-error.js';
import { restoreFromVersion } from '../../src/techniques/versions/version-restore.js';
import { makeSource } from './version-fixtures.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

let dir: TempDir;
let path: string;
beforeEach(() => {
  dir = makeTempDir('snaptape-catalog-');
  path = join(dir.path, 'c.db');
});
afterEach(() => dir.cleanup());

describe('catalog', () => {
  it('keeps a tape version of a migration-1 catalog restorable from its tape file after migration 2', async () => {
    const source = makeSource(dir.path, 's1', 41);
    const tape = join(dir.path, 't1.img.v0001.aws');
    const volume = openVolume(source);
    try {
      await runBackup(volume, { tapePath: tape, workers: 1 });
    } finally {
      volume.close();
    }
    const old = new Database(path);
    old.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);');
    old.exec((MIGRATIONS[0] as { sql: string }).sql);
    old
      .prepare("INSERT INTO versions (version, source_pool, target_pool, state, basis, pid, started_at) VALUES (1, 'SRC', '01', 'complete', 'fresh', 1, 'x')")
      .run();
    old.prepare('INSERT INTO storage_media (version, source_path, target_path, tape_path, instant) VALUES (1, ?, ?, ?, ?)').run(source, '/t1.img', tape, 'x');
    old.close();
    const catalog = Catalog.open(path);
    try {
      const to = join(dir.path, 'restored.ckd');
      const result = await restoreFromVersion(catalog, { version: 1, sourcePath: source, to });
      expect(result).toMatchObject({ technology: 'tape', copyPath: tape });
      expect(compareImages(source, to).mismatched).toBe(0);
    } finally {
      catalog.close();
    }
  });

  it('migrates a new file to the last migration, once', () => {
    const first = Catalog.open(path);
    expect(first.schemaVersion()).toBe(MIGRATIONS.at(-1)?.version);
    expect(first.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(first.db.pragma('busy_timeout', { simple: true })).toBe(CATALOG_BUSY_TIMEOUT_MS);
    // FULL (2): a commit is fsynced, so a committed version survives a power loss (NORMAL may lose it in WAL mode).
    expect(first.db.pragma('synchronous', { simple: true })).toBe(2);
    first.close();
    const again = Catalog.open(path);
    expect(again.db.prepare('SELECT COUNT(*) AS n FROM schema_version').get()).toEqual({ n: 1 });
    again.close();
  });

  it('numbers migrations 1, 2, ... without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, k) => k + 1));
  });

  it('rolls a failed transaction back whole', () => {
    const catalog = Catalog.open(path);
    try {
      expect(() =>
        catalog.write((db) => {
          db.prepare("INSERT INTO pools (name, role) VALUES ('P', 'source')").run();
          throw new Error('midway');
        }),
      ).toThrow('midway');
      expect(catalog.db.prepare('SELECT COUNT(*) AS n FROM pools').get()).toEqual({ n: 0 });
    } finally {
      catalog.close();
    }
  });

  it('releases a dead create and keeps a live one', () => {
    const catalog = Catalog.open(path);
    try {
      catalog.write((db) => {
        db.prepare(
          `INSERT INTO volumes (path, volser, format, device_type, heads, cylinders, units, technology, reserved_for, reserved_in_version)
          VALUES ('/t1', 'T1', 'ckd', '3390', 15, 2, 30, 'tape', '/s1', 7), ('/t2', 'T2', 'ckd', '3390', 15, 2, 30, 'tape', '/s2', 8)`,
        ).run();
        const insert = db.prepare(
          "INSERT INTO versions (version, source_pool, target_pool, state, basis, pid, started_at) VALUES (?, 'S', '01', 'creating', 'fresh', ?, 'x')",
        );
        insert.run(7, 111);
        insert.run(8, 222);
        writeRecord(db, { kind: 'COPY', version: 7, targetPool: '01', pairs: [{ sourcePath: '/s1', targetPath: '/t1', technology: 'tape' }] });
        writeRecord(db, { kind: 'COPY', version: 8, targetPool: '01', pairs: [{ sourcePath: '/s2', targetPath: '/t2', technology: 'tape' }] });
      });
      const recovered = recoverStaleCreates(catalog, (pid) => pid === 222);
      expect(recovered).toEqual([{ version: 7, pid: 111, releasedTargets: 1 }]);
      expect(listVersions(catalog.db).map((v) => v.version)).toEqual([8]);
      expect(listRecords(catalog.db).map((r) => `${r.kind}${r.version}`)).toEqual(['COPY8']);
      expect(catalog.db.prepare('SELECT path, reserved_for FROM volumes ORDER BY path').all()).toEqual([
        { path: '/t1', reserved_for: null },
        { path: '/t2', reserved_for: '/s2' },
      ]);
    } finally {
      catalog.close();
    }
  });
});

describe('a catalog file that is not one this snaptape may use', () => {
  const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

  it('a file that is not SQLite: an IoError naming it, and the file is left as it was', () => {
    writeFileSync(path, 'not a catalog at all, only some text that a user put here\n'.repeat(100));
    const before = sha(path);
    expect(() => Catalog.open(path)).toThrow(IoError);
    expect(() => Catalog.open(path)).toThrow(`Cannot open catalog ${path}: it is not an SQLite database`);
    expect(sha(path)).toBe(before);
  });

  it('a catalog of a newer schema: refused, not written', () => {
    Catalog.open(path).close();
    const newer = new Database(path);
    newer.prepare('UPDATE schema_version SET version = ?').run((MIGRATIONS.at(-1)?.version ?? 0) + 1);
    newer.close();
    const before = sha(path);
    const last = MIGRATIONS.at(-1)?.version ?? 0;
    expect(() => Catalog.open(path)).toThrow(UsageError);
    expect(() => Catalog.open(path)).toThrow(`its schema version ${last + 1} is newer than the ${last} this snaptape knows`);
    expect(sha(path)).toBe(before);
  });

  it("another program's SQLite database: refused, and none of the catalog's tables made in it", () => {
    const other = new Database(path);
    other.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts (name) VALUES ('x');");
    other.close();
    const before = sha(path);
    expect(() => Catalog.open(path)).toThrow(IoError);
    expect(() => Catalog.open(path)).toThrow('not a snaptape catalog');
    expect(sha(path)).toBe(before);
  });

  it('a catalog that must exist and does not: refused, no file made', () => {
    expect(() => Catalog.open(path, { mustExist: true })).toThrow(IoError);
    expect(existsSync(path)).toBe(false);
  });
});
