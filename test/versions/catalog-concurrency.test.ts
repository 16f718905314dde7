/**
 * Two processes at once on one catalog (issue 9, Build 1): both start on a missing file (so both race
 * to migrate it), then each runs many read-then-write transactions. Every transaction reads how many
 * pools exist and creates the pool named after that count: if two writers interleaved, two would
 * read the same count and one would fail on the duplicate name. The final catalog holds exactly
 * X0 .. X(2N-1) and passes SQLite's integrity check.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { listPools } from '../../src/catalog/catalog-inventory.js';
import { MIGRATIONS } from '../../src/catalog/catalog-migrations.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** Transactions per process: enough that the two overlap for many of them. */
const WRITES_PER_PROCESS = 150;
/** Longest a child waits for the other to be ready (a bound, not a timing assumption). */
const READY_WAIT_MS = 30_000;
/** One alternation is what two writers one after the other give; more means they overlapped. */
const MIN_WRITER_SWITCHES = 1;
const DIST_CATALOG = fileURLToPath(new URL('../../dist/catalog/catalog.js', import.meta.url));

let dir: TempDir | undefined;
afterEach(() => dir?.cleanup());

function runChild(script: string, args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('catalog under two processes', () => {
  it('serialises read-then-write transactions of two processes', async () => {
    dir = makeTempDir('snaptape-cat2-');
    const script = join(dir.path, 'writer.mjs');
    writeFileSync(
      script,
      `
      import { Catalog } from ${JSON.stringify(pathToFileURL(DIST_CATALOG).href)};
      import { existsSync, writeFileSync } from 'node:fs';
      const [path, count, tag] = process.argv.slice(2);
      const catalog = Catalog.open(path);
      // Both writers begin together, once both have opened (and migrated) the catalog: each says
      // it is ready and waits for the other, however slowly either started.
      writeFileSync(path + '.ready-' + tag, '');
      const deadline = Date.now() + ${READY_WAIT_MS};
      while (!(existsSync(path + '.ready-a') && existsSync(path + '.ready-b')) && Date.now() < deadline) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
      for (let k = 0; k < Number(count); k++) {
        catalog.write((db) => {
          const { n } = db.prepare('SELECT COUNT(*) AS n FROM pools').get();
          db.prepare("INSERT INTO pools (name, role) VALUES (?, 'source')").run('X' + n + ':' + tag);
        });
        // A breath between transactions, as an application has: otherwise one writer can take the
        // lock again before the other's busy handler wakes, and they run one after the other.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      }
      catalog.close();
    `,
    );
    const path = join(dir.path, 'shared.db');
    const results = await Promise.all(['a', 'b'].map((tag) => runChild(script, [path, String(WRITES_PER_PROCESS), tag])));
    expect(results).toEqual([
      { code: 0, stderr: '' },
      { code: 0, stderr: '' },
    ]);
    const catalog = Catalog.open(path);
    try {
      expect(catalog.db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(catalog.db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(catalog.schemaVersion()).toBe(MIGRATIONS.at(-1)?.version);
      const names = listPools(catalog.db)
        .map((p) => p.name.split(':') as [string, string])
        .sort((a, b) => Number(a[0].slice(1)) - Number(b[0].slice(1)));
      expect(names.map((n) => n[0])).toEqual(Array.from({ length: 2 * WRITES_PER_PROCESS }, (_, k) => `X${k}`));
      // The writers really ran at once: their transactions alternate more than a few times.
      const switches = names.filter((n, k) => k > 0 && n[1] !== names[k - 1]?.[1]).length;
      expect(switches).toBeGreaterThan(MIN_WRITER_SWITCHES);
    } finally {
      catalog.close();
    }
  });
});
