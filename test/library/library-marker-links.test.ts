/**
 * Layer: unit, hostile local user. `library init` makes the folder's cartridges, then its marker
 * `snaptape-library.json`. The folder is checked empty first, but whoever can write it may put a
 * link at the marker's name while the cartridges are made (here: once the last one is made): a
 * symbolic link (dangling, or to a file) or a hard link to another file is refused with a typed
 * error naming the marker, the other file neither made nor written, and the catalog holds no
 * library there.
 */
import { existsSync, linkSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { IoError } from '../../src/errors/snaptape-error.js';
import { LIBRARY_MARKER_FILE } from '../../src/library/library-marker.js';
import { initLibrary } from '../../src/library/library-ops.js';
import { getLibrary } from '../../src/library/library-store.js';
import { initTape } from '../../src/tape/init-tape.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** What the hostile user does while the cartridges are made: set per test. */
const duringInit = { plant: (): void => undefined };

vi.mock('../../src/tape/init-tape.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/tape/init-tape.js')>();
  return {
    ...actual,
    initTape: vi.fn((...args: Parameters<typeof actual.initTape>) => {
      const made = actual.initTape(...args);
      duringInit.plant();
      duringInit.plant = () => undefined;
      return made;
    }),
  };
});

let dir: TempDir;
let d: (name: string) => string;
beforeAll(() => {
  dir = makeTempDir('snaptape-marker-links-');
  d = (name) => join(dir.path, name);
});
afterAll(() => dir.cleanup());

function initRefused(lib: string): unknown {
  const catalog = Catalog.open(d('snaptape.db'));
  try {
    initLibrary(catalog, lib, { cartridges: 1, drives: 1 });
  } catch (error) {
    expect(getLibrary(catalog.db, lib), 'the catalog holds no library there').toBeUndefined();
    return error;
  } finally {
    catalog.close();
  }
  return undefined;
}

function expectRefused(error: unknown, marker: string): void {
  expect(error).toBeInstanceOf(IoError);
  expect((error as Error).message).toContain(marker);
}

describe('library init never writes its marker through a link', () => {
  it('a dangling symbolic link put at the marker is refused: nothing is made where it points', () => {
    const lib = d('dangling');
    const marker = join(lib, LIBRARY_MARKER_FILE);
    const victim = d('dangling.victim');
    duringInit.plant = () => symlinkSync(victim, marker);
    expectRefused(initRefused(lib), marker);
    expect(vi.mocked(initTape)).toHaveBeenCalled();
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
  });

  it('a refused init takes back the cartridges it made, so the folder can be made a library again', () => {
    const lib = d('again');
    const marker = join(lib, LIBRARY_MARKER_FILE);
    duringInit.plant = () => symlinkSync(d('again.victim'), marker);
    expectRefused(initRefused(lib), marker);
    expect(readdirSync(lib), 'only the planted link is left').toEqual([LIBRARY_MARKER_FILE]);
    rmSync(marker);
    const catalog = Catalog.open(d('snaptape.db'));
    try {
      expect(initLibrary(catalog, lib, { cartridges: 1, drives: 1 }).cartridges).toHaveLength(1);
    } finally {
      catalog.close();
    }
  });

  for (const [kind, link] of [
    ['a symbolic link', symlinkSync],
    ['a hard link', linkSync],
  ] as const) {
    it(`${kind} to another file put at the marker is refused, and that file keeps its bytes`, () => {
      const lib = d(kind.replace(/ /g, '-'));
      const marker = join(lib, LIBRARY_MARKER_FILE);
      const victim = d(`${kind.replace(/ /g, '-')}.victim`);
      const bytes = Buffer.from('{"the victim":"its own bytes"}\n');
      writeFileSync(victim, bytes);
      duringInit.plant = () => link(victim, marker);
      expectRefused(initRefused(lib), marker);
      expect(readFileSync(victim).equals(bytes), 'the other file is not written').toBe(true);
    });
  }
});
