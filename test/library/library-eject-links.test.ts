/**
 * Layer: unit, hostile local user. `library eject` moves a cartridge's file into the eject folder
 * (rename(2), or, when that folder is on another file system, EXDEV, a copy and a removal). The
 * copy must make a new file: a link put at the destination (a dangling symbolic link, to a file of
 * the attacker's choosing; or, once the destination was checked, a link to another file) is
 * refused with a typed error naming it, the other file neither made nor written, and the
 * cartridge stays in its slot, its file in the library unchanged. The eject folder here is on
 * /dev/shm (tmpfs), another file system than the library's: a real EXDEV.
 */
import fs, { existsSync, readFileSync, statSync, symlinkSync, writeFileSync, type PathLike, type RmOptions } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import tmp from 'tmp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Catalog } from '../../src/catalog/catalog.js';
import { SnaptapeError } from '../../src/errors/snaptape-error.js';
import { ejectCartridge, initLibrary } from '../../src/library/library-ops.js';
import { getCartridge } from '../../src/library/library-store.js';
import { libraryKey } from '../../src/library/library-marker.js';
import { makeTempDir, type TempDir } from '../harness/temp-dir.js';

/** What the hostile user does once the destination was checked (while the cartridge is digested): set per test. */
const afterCheck = { plant: (): void => undefined };

vi.mock('../../src/base/file-digest.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/base/file-digest.js')>();
  return {
    ...actual,
    fileSha256: vi.fn((...args: Parameters<typeof actual.fileSha256>) => {
      afterCheck.plant();
      afterCheck.plant = () => undefined;
      return actual.fileSha256(...args);
    }),
  };
});

const otherFs = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(tmp.tmpdir).dev;
let dir: TempDir;
let shm: { name: string; removeCallback: () => void } | undefined;
let d: (name: string) => string;
let s: (name: string) => string;
beforeAll(() => {
  dir = makeTempDir('snaptape-eject-links-');
  d = (name) => join(dir.path, name);
  if (otherFs) {
    shm = tmp.dirSync({ tmpdir: '/dev/shm', prefix: 'snaptape-eject-links-', unsafeCleanup: true });
    const at = shm.name;
    s = (name) => join(at, name);
  }
});
afterAll(() => {
  shm?.removeCallback();
  dir.cleanup();
});

function ejectRefused(name: string, toDir: string): { error: unknown; cartridge: string; bytes: Buffer; slotAfter: string | undefined } {
  const catalog = Catalog.open(d('snaptape.db'));
  try {
    const lib = d(name);
    initLibrary(catalog, lib, { cartridges: 1, drives: 1 });
    const cartridge = join(lib, 'A00001.aws');
    const bytes = readFileSync(cartridge);
    let error: unknown;
    try {
      ejectCartridge(catalog, lib, 'A00001', toDir);
    } catch (caught) {
      error = caught;
    }
    return { error, cartridge, bytes, slotAfter: getCartridge(catalog.db, libraryKey(lib), 'A00001')?.location };
  } finally {
    catalog.close();
  }
}

describe.runIf(otherFs)('library eject to another file system never copies through a link', () => {
  it('a dangling symbolic link at the destination is refused: nothing is made where it points, the cartridge stays', () => {
    const toDir = s('station1');
    const victim = s('dangling.victim');
    tmp.dirSync({ name: 'station1', tmpdir: shm?.name });
    symlinkSync(victim, join(toDir, 'A00001.aws'));
    const r = ejectRefused('lib1', toDir);
    expect(r.error).toBeInstanceOf(SnaptapeError);
    expect((r.error as Error).message).toContain(join(toDir, 'A00001.aws'));
    expect(existsSync(victim), 'nothing is made where the link points').toBe(false);
    expect(readFileSync(r.cartridge).equals(r.bytes), 'the cartridge stays in the library, unchanged').toBe(true);
    expect(r.slotAfter, 'the catalog keeps it in its slot').toBe('slot');
  });

  it('a symbolic link to another file put at the destination after its check is refused, and that file keeps its bytes', () => {
    const toDir = s('station2');
    tmp.dirSync({ name: 'station2', tmpdir: shm?.name });
    const victim = s('victim.bin');
    const bytes = Buffer.alloc(4096, 0x5a);
    writeFileSync(victim, bytes);
    afterCheck.plant = () => symlinkSync(victim, join(toDir, 'A00001.aws'));
    const r = ejectRefused('lib2', toDir);
    expect(r.error).toBeInstanceOf(SnaptapeError);
    expect((r.error as Error).message).toContain(join(toDir, 'A00001.aws'));
    expect(readFileSync(victim).equals(bytes), 'the other file is not written').toBe(true);
    expect(readFileSync(r.cartridge).equals(r.bytes), 'the cartridge stays in the library, unchanged').toBe(true);
    expect(r.slotAfter, 'the catalog keeps it in its slot').toBe('slot');
  });

  it('a cartridge that cannot be removed from its slot after the copy stays the only one: the copy is taken back', () => {
    const toDir = s('station4');
    const realRm = fs.rmSync;
    // The removal of the slot's file fails (EPERM, as for an immutable file) once it was copied.
    fs.rmSync = (path: PathLike, options?: RmOptions): void => {
      if (String(path).endsWith(join('lib4', 'A00001.aws')))
        throw Object.assign(new Error(`EPERM: operation not permitted, rm '${String(path)}'`), { code: 'EPERM' });
      realRm(path, options);
    };
    syncBuiltinESMExports();
    let r: ReturnType<typeof ejectRefused>;
    try {
      r = ejectRefused('lib4', toDir);
    } finally {
      fs.rmSync = realRm;
      syncBuiltinESMExports();
    }
    expect(r.error).toBeInstanceOf(SnaptapeError);
    expect(existsSync(join(toDir, 'A00001.aws')), 'no second copy is left at the destination').toBe(false);
    expect(readFileSync(r.cartridge).equals(r.bytes), 'the cartridge stays in the library, unchanged').toBe(true);
    expect(r.slotAfter, 'the catalog keeps it in its slot').toBe('slot');
  });

  it('a plain eject to another file system still moves the cartridge', () => {
    const toDir = s('station3');
    const catalog = Catalog.open(d('snaptape.db'));
    try {
      const lib = d('lib3');
      initLibrary(catalog, lib, { cartridges: 1, drives: 1 });
      const bytes = readFileSync(join(lib, 'A00001.aws'));
      const ejected = ejectCartridge(catalog, lib, 'A00001', toDir);
      expect(readFileSync(ejected.path).equals(bytes)).toBe(true);
      expect(existsSync(join(lib, 'A00001.aws'))).toBe(false);
    } finally {
      catalog.close();
    }
  });
});
