/**
 * Backups to a tape library and reads from one: a backup takes a scratch cartridge, runs the one
 * tape backup session onto it, and makes it private; a backup larger than a cartridge is spread
 * over several, with end-of-volume labels (tape/multi-volume.ts). A restore or verify names a
 * cartridge's volser: the cartridges of its set are loaded in order and read as the one tape they
 * continue.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { ownFolder } from '../base/file-io.js';
import { join } from 'node:path';
import { withCatalog } from '../catalog/catalog.js';
import { LibraryError } from '../errors/snaptape-error.js';
import { cartridgeSet, commitPrivate, DEFAULT_POOL, openLibrary, releaseScratch, takeScratch, type CartridgeRecord } from '../library/index.js';
import type { TapeIndex } from '../tape/tape-index.js';
import { joinTapeVolumes, spanTape } from '../tape/multi-volume.js';
import { vaultedSetTape } from './library-vault-api.js';
import type { BackupRun } from './backup-api.js';

/** Where the library keeps a spanned backup before it is spread, and a joined set while it is read. */
const STAGING_DIR = 'staging';
/** What `ownFolder` calls `LIB/staging` in an error. */
const STAGING_FOLDER = 'the staging folder of the tape library';

export interface LibraryBackupTarget {
  /** The tape file the backup session writes: the scratch cartridge mounted for it. */
  readonly tapePath: string;
  readonly tapeVolser: string;
}

export interface LibraryBackupRun extends BackupRun {
  readonly library: string;
  readonly pool: string;
  readonly setId: string;
  /** The cartridges written, in set order (one unless the backup spanned). */
  readonly cartridges: readonly CartridgeRecord[];
}

/**
 * Backs up to tape library `dir` (catalog `catalogFile`): takes the first scratch cartridge of
 * `pool`, has `run` write the backup onto it with the tape backup session, and makes it private.
 * When the tape outgrows the library's cartridge capacity it is spread over as many scratch
 * cartridges as it needs (multi-volume, with EOV labels), each private with the set's id. A failed
 * backup puts the cartridge back as scratch. Throws LibraryError when the pool has no scratch
 * cartridge left or no drive is free.
 */
export async function backupToLibrary(
  dir: string,
  options: { readonly catalog: string; readonly pool?: string },
  run: (target: LibraryBackupTarget) => Promise<BackupRun>,
): Promise<LibraryBackupRun> {
  const pool = (options.pool ?? DEFAULT_POOL).toUpperCase();
  const first = await withCatalog(options.catalog, (catalog) => takeScratch(catalog, dir, pool));
  const library = await withCatalog(options.catalog, (catalog) => openLibrary(catalog, dir));
  const setId = randomUUID();
  const written: string[] = [];
  try {
    const ran = await run({ tapePath: first.path, tapeVolser: first.volser });
    const sizeBytes = statSync(first.path).size;
    if (sizeBytes <= library.capacityBytes) {
      const cartridges = await withCatalog(options.catalog, (catalog) => commitPrivate(catalog, dir, [first.volser], setId));
      return { ...ran, library: library.path, pool, setId, cartridges };
    }
    const stagingDir = join(library.path, STAGING_DIR);
    // Inside the library only: a link in the staging folder's place would move the cartridge out.
    ownFolder(stagingDir, STAGING_FOLDER);
    const staged = join(stagingDir, `${first.volser}-${process.pid}.aws`);
    renameSync(first.path, staged);
    try {
      const cartridges = await withCatalog(options.catalog, (catalog) => {
        const made: CartridgeRecord[] = [];
        spanTape(staged, {
          capacityBytes: library.capacityBytes,
          nextVolume: (sequence) => {
            const next = sequence === 1 ? first : takeScratch(catalog, dir, pool);
            written.push(next.volser);
            return { path: next.path, volser: next.volser };
          },
          // Each full cartridge becomes private and goes back to its slot, which frees its drive for the next.
          volumeDone: (sequence, target) => made.push(...commitPrivate(catalog, dir, [target.volser], setId, new Date(), sequence)),
        });
        return made;
      });
      return { ...ran, library: library.path, pool, setId, cartridges };
    } finally {
      rmSync(staged, { force: true });
    }
  } catch (error) {
    await withCatalog(options.catalog, (catalog) => {
      releaseScratch(catalog, dir, written.length > 0 ? written : [first.volser], setId);
    });
    throw error;
  }
}

/** A backup set's tape, ready to read; `done` removes what was staged for it. */
export interface LibraryTape {
  readonly tapePath: string;
  /** The index to read `tapePath` with: one vaulted cartridge fetched in part. */
  readonly tapeIndex?: TapeIndex;
  readonly cartridges: readonly string[];
  /** Bytes fetched from the vault, and what the vaulted cartridges hold, for a read in place. */
  readonly bytesFetched?: number;
  readonly cartridgeBytes?: number;
  done(): void;
}

/**
 * The tape to read for the backup on cartridge `volser` of library `dir`: the cartridge itself, or
 * for a multi-volume set, its cartridges joined in order into one staging tape, removed by `done`.
 * A set with vaulted cartridges is read in place for one data set (`dataset`): only its labels and
 * that data set's blocks are fetched (library-vault-api.ts), and `bytesFetched` says how many bytes;
 * anything else needs the cartridges recalled first.
 */
export async function libraryTape(dir: string, volser: string, options: { readonly catalog: string; readonly dataset?: string }): Promise<LibraryTape> {
  const { set, libraryPath } = await withCatalog(options.catalog, (catalog) => ({
    set: cartridgeSet(catalog, dir, volser, { vaulted: true }),
    libraryPath: openLibrary(catalog, dir).path,
  }));
  const stagingDir = join(libraryPath, STAGING_DIR);
  const vaulted = set.filter((c) => c.location === 'vaulted');
  if (vaulted.length > 0) {
    if (options.dataset === undefined) {
      const names = vaulted.map((c) => c.volser).join(', ');
      throw new LibraryError(
        `Cannot read the backup set of cartridge ${volser.toUpperCase()}: ${names} ${vaulted.length === 1 ? 'is' : 'are'} vaulted; recall ${vaulted.length === 1 ? 'it' : 'them'} (library recall), or restore one data set in place with --dataset`,
        { volser: volser.toUpperCase() },
      );
    }
    ownFolder(stagingDir, STAGING_FOLDER);
    const scratch = join(stagingDir, `vault-${volser.toUpperCase()}-${process.pid}`);
    try {
      const tape = await vaultedSetTape(set, options.dataset, scratch);
      return { ...tape, cartridges: set.map((c) => c.volser), done: () => rmSync(scratch, { recursive: true, force: true }) };
    } catch (error) {
      rmSync(scratch, { recursive: true, force: true });
      throw error;
    }
  }
  const only = set[0];
  if (set.length === 1 && only !== undefined) return { tapePath: only.path, cartridges: [only.volser], done: () => undefined };
  ownFolder(stagingDir, STAGING_FOLDER);
  const joined = join(stagingDir, `join-${volser.toUpperCase()}-${process.pid}.aws`);
  try {
    joinTapeVolumes(
      set.map((c) => c.path),
      joined,
    );
  } catch (error) {
    rmSync(joined, { force: true });
    throw error;
  }
  return {
    tapePath: joined,
    cartridges: set.map((c) => c.volser),
    done: () => {
      if (existsSync(joined)) rmSync(joined, { force: true });
    },
  };
}
