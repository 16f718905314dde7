/**
 * The operations of a tape library (`snaptape library …`): making one, its pools, moving
 * cartridges between slots, drives and the outside, taking a scratch cartridge for a backup and
 * making it private, and returning expired cartridges to scratch. Every change of the catalog is
 * one transaction; a cartridge file is moved only by these functions, and written only by a tape
 * writer while it is a scratch cartridge in a drive (cartridge-guard.ts).
 */
import { closeSync, constants, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { openRegularFile, writeFully } from '../base/file-io.js';
import { join, resolve } from 'node:path';
import { fileSha256 } from '../base/file-digest.js';
import type { Catalog, Db } from '../catalog/catalog.js';
import { translateIoError } from '../errors/io-error.js';
import { CartridgeProtectedError, IoError, LibraryError, UsageError } from '../errors/snaptape-error.js';
import { checkVolser, initTape } from '../tape/init-tape.js';
import { decodeStandardLabel, labelIdOf } from '../tape/standard-labels.js';
import { TapeReader } from '../tape/tape-reader.js';
import { cartridgePath, isCartridgeVolser, LIBRARY_MARKER_FILE, libraryKey, readMarker } from './library-marker.js';
import {
  getCartridge,
  getLibrary,
  insertCartridge,
  insertLibrary,
  listCartridges,
  listLibraryPools,
  updateCartridge,
  upsertPool,
  type CartridgeRecord,
  type LibraryPool,
  type LibraryRecord,
} from './library-store.js';
import { barcodeOf, mediaType, MIN_CAPACITY_BYTES, type MediaType } from './media-types.js';

/** The pool every cartridge is in unless a pool's range takes it. */
export const DEFAULT_POOL = 'DEFAULT';
export const DEFAULT_RETENTION_DAYS = 30;
const DAY_MS = 86_400_000;

export interface LibraryInitOptions {
  readonly cartridges: number;
  /** Volsers are the prefix and a number, 6 characters in all: prefix A, first 1 → A00001. */
  readonly prefix?: string;
  readonly firstNumber?: number;
  readonly media?: string;
  readonly capacityBytes?: number;
  readonly slots?: number;
  readonly drives?: number;
  readonly retentionDays?: number;
}

export interface LibraryListing {
  readonly library: LibraryRecord;
  readonly pools: readonly LibraryPool[];
  readonly cartridges: readonly (CartridgeRecord & { readonly path: string })[];
}

/** The library at `dir`, or a LibraryError when it is not one this catalog holds. */
export function openLibrary(catalog: Catalog, dir: string): LibraryRecord {
  const key = libraryKey(dir);
  const library = getLibrary(catalog.db, key);
  if (library === undefined) {
    const marker = readMarker(key);
    const elsewhere = marker !== undefined && resolve(marker.catalog) !== resolve(catalog.path) ? `: it is in catalog ${marker.catalog}` : '';
    throw new LibraryError(`Cannot use tape library ${dir}: catalog ${catalog.path} holds no library there${elsewhere}`, { library: dir });
  }
  return library;
}

function volserOf(prefix: string, number: number): string {
  const digits = 6 - prefix.length;
  const text = String(number).padStart(digits, '0');
  if (text.length > digits) throw new UsageError(`Cannot number cartridge ${number} after prefix "${prefix}": it has more than ${digits} digits`);
  return checkVolser(`${prefix}${text}`);
}

/** Creates the library directory, its scratch cartridges (blank SL tapes), and its catalog rows. */
export function initLibrary(catalog: Catalog, dir: string, options: LibraryInitOptions): LibraryListing {
  const media = mediaType(options.media ?? '3490E');
  const capacityBytes = options.capacityBytes ?? media.capacityBytes;
  const prefix = (options.prefix ?? 'A').toUpperCase();
  const drives = options.drives ?? 2;
  const slots = options.slots ?? options.cartridges;
  const retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
  const bad = (what: string): never => {
    throw new UsageError(`Cannot make tape library ${dir}: ${what}`, { library: dir });
  };
  if (!Number.isInteger(options.cartridges) || options.cartridges < 1) bad(`${options.cartridges} cartridges is not a count above 0`);
  if (!Number.isInteger(capacityBytes) || capacityBytes < MIN_CAPACITY_BYTES) bad(`a capacity of ${capacityBytes} bytes is below ${MIN_CAPACITY_BYTES}`);
  if (!Number.isInteger(drives) || drives < 1) bad(`${drives} drives is not a count above 0`);
  if (!Number.isInteger(slots) || slots < options.cartridges) bad(`${slots} slots cannot hold ${options.cartridges} cartridges`);
  if (!Number.isInteger(retentionDays) || retentionDays < 0) bad(`a retention of ${retentionDays} days is not a count of days`);
  if (!/^[A-Z@#$][A-Z0-9@#$]{0,4}$/.test(prefix)) bad(`volser prefix "${prefix}" is not 1 to 5 characters starting with a letter`);
  const first = options.firstNumber ?? 1;
  const volsers = Array.from({ length: options.cartridges }, (_, i) => volserOf(prefix, first + i));
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new LibraryError(`Cannot make tape library ${dir}: the directory is not empty`, { library: dir });
  mkdirSync(dir, { recursive: true });
  const key = libraryKey(dir);
  if (getLibrary(catalog.db, key) !== undefined)
    throw new LibraryError(`Cannot make tape library ${dir}: catalog ${catalog.path} already holds one there`, { library: dir });
  // The cartridges first, then the marker: until the marker exists, the guard does not treat them as cartridges.
  const made: string[] = [];
  // A refusal from here on takes back the cartridges made (the folder was empty): a second init can then make it a library.
  const takeBack = (): void => made.forEach((path) => rmSync(path, { force: true }));
  let marker: number;
  const markerPath = join(key, LIBRARY_MARKER_FILE);
  try {
    for (const volser of volsers) {
      const path = cartridgePath(key, volser);
      initTape(path, { labelled: true, volser });
      made.push(path);
    }
    // The folder was empty, but whoever can write it may have put a link at the marker's name since:
    // the marker is made new (O_EXCL, file-io.ts SideFileOpen), before the catalog rows, so that a
    // refusal leaves none, and written through its descriptor once they are in.
    marker = openRegularFile(markerPath, 'the tape library marker', true, { noFollow: true, exclusive: true }).fd;
  } catch (error) {
    takeBack();
    throw error;
  }
  try {
    writeCatalogRows();
    writeFully(
      marker,
      Buffer.from(`${JSON.stringify({ format: 'snaptape-library', catalog: resolve(catalog.path) }, null, 2)}\n`),
      0,
      markerPath,
      'the tape library marker',
    );
  } catch (error) {
    closeSync(marker);
    // Ours (made above): an empty marker would make the folder no library anyone can use.
    rmSync(markerPath, { force: true });
    takeBack();
    throw error;
  }
  closeSync(marker);
  return listLibrary(catalog, key);

  function writeCatalogRows(): void {
    const createdAt = new Date().toISOString();
    catalog.write((db) => {
      insertLibrary(db, { path: key, media: media.name, capacityBytes, slots, drives, createdAt });
      upsertPool(db, key, {
        name: DEFAULT_POOL,
        firstVolser: volsers[0] as string,
        lastVolser: volsers.at(-1) as string,
        retentionDays,
        worm: false,
        storageClass: null,
      });
      volsers.forEach((volser, i) => insertCartridge(db, key, scratchCartridge(volser, media, { pool: DEFAULT_POOL, slot: i + 1, worm: false })));
    });
  }
}

/** The library at `dir`: its settings, pools, and every cartridge with its state, place and file path. */
export function listLibrary(catalog: Catalog, dir: string): LibraryListing {
  const library = openLibrary(catalog, dir);
  return {
    library,
    pools: listLibraryPools(catalog.db, library.path),
    cartridges: listCartridges(catalog.db, library.path).map((c) => ({ ...c, path: cartridgePath(library.path, c.volser) })),
  };
}

function requireCartridge(db: Db, library: LibraryRecord, volser: string): CartridgeRecord {
  const cartridge = getCartridge(db, library.path, volser.toUpperCase());
  if (cartridge === undefined) throw new LibraryError(`Cannot find cartridge ${volser} in tape library ${library.path}`, { library: library.path, volser });
  return cartridge;
}

/**
 * Sets pool `name` to the volser range first..last, with a retention and a WORM flag. The scratch
 * cartridges in the range join it (a WORM pool makes them WORM); a private cartridge in the range,
 * or a range that overlaps another pool's, is refused.
 */
export function setPool(catalog: Catalog, dir: string, pool: LibraryPool): LibraryPool {
  const library = openLibrary(catalog, dir);
  if (pool.storageClass !== null && !/^[A-Z_]{1,32}$/.test(pool.storageClass))
    throw new UsageError(`Cannot set pool ${pool.name}: ${pool.storageClass} is not an S3 storage class (STANDARD, GLACIER, DEEP_ARCHIVE…)`);
  const name = pool.name.toUpperCase();
  const first = checkVolser(pool.firstVolser);
  const last = checkVolser(pool.lastVolser);
  if (first > last) throw new UsageError(`Cannot set pool ${name}: ${first} comes after ${last}`);
  if (!Number.isInteger(pool.retentionDays) || pool.retentionDays < 0)
    throw new UsageError(`Cannot set pool ${name}: ${pool.retentionDays} is not a count of days`);
  return catalog.write((db) => {
    for (const other of listLibraryPools(db, library.path)) {
      if (other.name === name || other.name === DEFAULT_POOL) continue;
      if (first <= other.lastVolser && other.firstVolser <= last)
        throw new LibraryError(`Cannot set pool ${name} to ${first}-${last}: it overlaps pool ${other.name} (${other.firstVolser}-${other.lastVolser})`, {
          library: library.path,
        });
    }
    const inRange = listCartridges(db, library.path).filter((c) => c.volser >= first && c.volser <= last);
    const held = inRange.find((c) => c.state === 'private' && c.pool !== name);
    if (held)
      throw new LibraryError(`Cannot move cartridge ${held.volser} to pool ${name}: it is private in pool ${held.pool}`, {
        library: library.path,
        volser: held.volser,
      });
    const set = { name, firstVolser: first, lastVolser: last, retentionDays: pool.retentionDays, worm: pool.worm, storageClass: pool.storageClass };
    upsertPool(db, library.path, set);
    for (const c of inRange) if (c.state === 'scratch') updateCartridge(db, library.path, { ...c, pool: name, worm: pool.worm });
    return set;
  });
}

function freeDrive(db: Db, library: LibraryRecord): number {
  const used = new Set(listCartridges(db, library.path).flatMap((c) => (c.drive === null ? [] : [c.drive])));
  for (let drive = 1; drive <= library.drives; drive++) if (!used.has(drive)) return drive;
  throw new LibraryError(`Cannot mount a cartridge in tape library ${library.path}: all ${library.drives} drives are in use (unmount one)`, {
    library: library.path,
  });
}

function mountIn(db: Db, library: LibraryRecord, cartridge: CartridgeRecord, drive: number | undefined): CartridgeRecord {
  if (cartridge.location !== 'slot')
    throw new LibraryError(
      `Cannot mount cartridge ${cartridge.volser}: it is ${cartridge.location}${cartridge.drive ? ` in drive ${cartridge.drive}` : ''}, not in its slot`,
      {
        library: library.path,
        volser: cartridge.volser,
      },
    );
  const chosen = drive ?? freeDrive(db, library);
  if (!Number.isInteger(chosen) || chosen < 1 || chosen > library.drives)
    throw new UsageError(`Cannot mount in drive ${chosen}: the library has drives 1-${library.drives}`);
  const holder = listCartridges(db, library.path).find((c) => c.drive === chosen);
  if (holder)
    throw new LibraryError(`Cannot mount cartridge ${cartridge.volser} in drive ${chosen}: cartridge ${holder.volser} is in it`, {
      library: library.path,
      drive: chosen,
    });
  const mounted = { ...cartridge, location: 'drive' as const, drive: chosen };
  updateCartridge(db, library.path, mounted);
  return mounted;
}

/** Moves a cartridge from its slot into a drive (a free one unless `drive` is given). */
export function mountCartridge(catalog: Catalog, dir: string, volser: string, drive?: number): CartridgeRecord & { readonly path: string } {
  const library = openLibrary(catalog, dir);
  const mounted = catalog.write((db) => mountIn(db, library, requireCartridge(db, library, volser), drive));
  return { ...mounted, path: cartridgePath(library.path, mounted.volser) };
}

/** Moves a cartridge from its drive back into its slot. */
export function unmountCartridge(catalog: Catalog, dir: string, volser: string): CartridgeRecord {
  const library = openLibrary(catalog, dir);
  return catalog.write((db) => {
    const cartridge = requireCartridge(db, library, volser);
    if (cartridge.location !== 'drive')
      throw new LibraryError(`Cannot unmount cartridge ${cartridge.volser}: it is not in a drive (${cartridge.location})`, { volser });
    const back = { ...cartridge, location: 'slot' as const, drive: null };
    updateCartridge(db, library.path, back);
    return back;
  });
}

/**
 * Moves a cartridge's file: rename(2), which replaces whatever is at `to` (a link too) without
 * following it; across file systems (EXDEV) a copy that makes a new file (COPYFILE_EXCL: O_EXCL),
 * never one that follows or empties a file or a link put at `to` (whoever can write that folder may
 * put one there after it was checked): that is refused with an IoError naming it, left as it was.
 */
function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw translateIoError(error, `move ${from} to ${to}`, from);
    try {
      copyFileSync(from, to, constants.COPYFILE_EXCL);
    } catch (copyError) {
      if ((copyError as NodeJS.ErrnoException).code === 'EEXIST')
        throw new IoError(
          `Cannot copy ${from} to ${to} (another file system): something was put at ${to} (a file or a link), and the copy is made only as a new file`,
          {
            path: to,
            exists: true,
          },
        );
      // Made by this copy (COPYFILE_EXCL): a part of it is no cartridge anyone should find there.
      rmSync(to, { force: true });
      throw translateIoError(copyError, `copy ${from} to ${to}`, to);
    }
    try {
      rmSync(from);
    } catch (removeError) {
      // Still in its slot: the copy is taken back, so that the cartridge is in one place only.
      rmSync(to, { force: true });
      throw translateIoError(removeError, `remove ${from} once copied to ${to}`, from);
    }
  }
}

/**
 * Takes a cartridge out of the library into directory `toDir` (its I/O station). Its row stays,
 * as ejected, with the file's SHA-256, so that a private cartridge can come back only unchanged.
 */
export function ejectCartridge(catalog: Catalog, dir: string, volser: string, toDir: string): CartridgeRecord & { readonly path: string } {
  const library = openLibrary(catalog, dir);
  const cartridge = requireCartridge(catalog.db, library, volser);
  if (cartridge.location !== 'slot')
    throw new LibraryError(`Cannot eject cartridge ${cartridge.volser}: it is ${cartridge.location}, not in its slot`, { volser });
  const to = join(resolve(toDir), `${cartridge.volser}.aws`);
  // lstat, not existsSync: a dangling link is something there too.
  if (lstatSync(to, { throwIfNoEntry: false }) !== undefined)
    throw new LibraryError(`Cannot eject cartridge ${cartridge.volser} to ${to}: a file is there`, { volser, path: to });
  const from = cartridgePath(library.path, cartridge.volser);
  const sha256 = fileSha256(from, 'the cartridge').sha256;
  const ejected = { ...cartridge, location: 'ejected' as const, slot: null, sha256 };
  catalog.write((db) => updateCartridge(db, library.path, ejected));
  try {
    mkdirSync(resolve(toDir), { recursive: true });
    moveFile(from, to);
  } catch (error) {
    // Not moved: the cartridge is still in its slot, and the catalog says so again.
    catalog.write((db) => updateCartridge(db, library.path, cartridge));
    throw error;
  }
  return { ...ejected, path: to };
}

function readVolser(path: string): string {
  const reader = TapeReader.open(path);
  try {
    const first = reader.read();
    if (first.kind !== 'block' || labelIdOf(first.data) !== 'VOL1')
      throw new LibraryError(`Cannot inject ${path}: it is not a standard-labelled tape (no VOL1 in its first block)`, { path });
    const label = decodeStandardLabel(first.data, { path, blockNumber: 0, offsetBytes: 0 });
    const volser = label.labelId === 'VOL1' ? label.volser : '';
    // The volser names the cartridge's file: one that is no volser ("../X", blanks) is refused.
    if (!isCartridgeVolser(volser))
      throw new LibraryError(`Cannot inject ${path}: its VOL1 volser "${volser}" is not 1 to 6 characters of A-Z, 0-9, @, # or $`, { path, volser });
    return volser;
  } finally {
    reader.close();
  }
}

/**
 * Brings the standard-labelled tape at `file` into a free slot; its VOL1 volser names it. A
 * cartridge the library ejected comes back only with the SHA-256 it left with, when it is private;
 * a new one joins the pool whose range holds its volser, as scratch.
 */
export function injectCartridge(catalog: Catalog, dir: string, file: string): CartridgeRecord & { readonly path: string } {
  const library = openLibrary(catalog, dir);
  const volser = readVolser(file);
  const to = cartridgePath(library.path, volser);
  const known = getCartridge(catalog.db, library.path, volser);
  if (known !== undefined && known.location !== 'ejected')
    throw new LibraryError(`Cannot inject ${file}: cartridge ${volser} is already in the library (${known.location})`, { volser });
  if (known?.state === 'private') {
    const sha256 = fileSha256(file, 'the cartridge').sha256;
    if (sha256 !== known.sha256)
      throw new CartridgeProtectedError(
        `Cannot inject ${file}: private cartridge ${volser}${known.worm ? ' (WORM)' : ''} was ejected with SHA-256 ${known.sha256 ?? '?'} and comes back as ${sha256}: it was changed outside the library`,
        { volser, path: file },
      );
  }
  if (lstatSync(to, { throwIfNoEntry: false }) !== undefined) throw new LibraryError(`Cannot inject ${file}: ${to} exists`, { volser, path: to });
  const media = mediaType(library.media);
  const injected = catalog.write((db) => {
    const used = new Set(listCartridges(db, library.path).flatMap((c) => (c.slot === null ? [] : [c.slot])));
    let slot = 1;
    while (used.has(slot)) slot += 1;
    if (slot > library.slots)
      throw new LibraryError(`Cannot inject ${file}: all ${library.slots} slots of ${library.path} are full`, { library: library.path });
    if (known !== undefined) {
      const back = { ...known, location: 'slot' as const, slot };
      updateCartridge(db, library.path, back);
      return back;
    }
    const pool = listLibraryPools(db, library.path).find((p) => p.name !== DEFAULT_POOL && volser >= p.firstVolser && volser <= p.lastVolser);
    const record = scratchCartridge(volser, media, { pool: pool?.name ?? DEFAULT_POOL, slot, worm: pool?.worm ?? false });
    insertCartridge(db, library.path, record);
    return record;
  });
  moveFile(resolve(file), to);
  return { ...injected, path: to };
}

/** Takes the first scratch cartridge of `pool` in a slot and mounts it in a free drive, in one transaction. */
export function takeScratch(catalog: Catalog, dir: string, pool: string): CartridgeRecord & { readonly path: string } {
  const library = openLibrary(catalog, dir);
  const name = pool.toUpperCase();
  const mounted = catalog.write((db) => {
    if (!listLibraryPools(db, library.path).some((p) => p.name === name))
      throw new LibraryError(`Cannot take a scratch cartridge: library ${library.path} has no pool ${name}`, { pool: name });
    const scratch = listCartridges(db, library.path).find((c) => c.pool === name && c.state === 'scratch' && c.location === 'slot');
    if (scratch === undefined)
      throw new LibraryError(`Cannot take a scratch cartridge from pool ${name} of ${library.path}: it has none left in a slot`, { pool: name });
    return mountIn(db, library, scratch, undefined);
  });
  return { ...mounted, path: cartridgePath(library.path, mounted.volser) };
}

/**
 * Makes the written cartridges of one backup private, in one transaction: each gets the set id, its
 * place in the set, the pool's retention from `writtenAt`, and its SHA-256; and goes back to its slot.
 */
export function commitPrivate(
  catalog: Catalog,
  dir: string,
  volsers: readonly string[],
  setId: string,
  writtenAt: Date = new Date(),
  firstSequence = 1,
): CartridgeRecord[] {
  const library = openLibrary(catalog, dir);
  const hashes = volsers.map((v) => fileSha256(cartridgePath(library.path, v), 'the cartridge').sha256);
  return catalog.write((db) => {
    const pools = listLibraryPools(db, library.path);
    return volsers.map((volser, i) => {
      const cartridge = requireCartridge(db, library, volser);
      const pool = pools.find((p) => p.name === cartridge.pool);
      const expiresAt = new Date(writtenAt.getTime() + (pool?.retentionDays ?? DEFAULT_RETENTION_DAYS) * DAY_MS).toISOString();
      const record: CartridgeRecord = {
        ...cartridge,
        state: 'private',
        location: 'slot',
        drive: null,
        expiresAt,
        writtenAt: writtenAt.toISOString(),
        setId,
        setSequence: firstSequence + i,
        sha256: hashes[i] ?? null,
      };
      updateCartridge(db, library.path, record);
      return record;
    });
  });
}

/**
 * Puts the cartridges of a failed backup back in their slots as scratch: those still scratch in a
 * drive, and those of set `setId` already made private (the full cartridges of a spanning backup
 * that failed later). Their contents are an incomplete set that no restore could read.
 */
export function releaseScratch(catalog: Catalog, dir: string, volsers: readonly string[], setId: string): void {
  const library = openLibrary(catalog, dir);
  catalog.write((db) => {
    for (const volser of volsers) {
      const cartridge = requireCartridge(db, library, volser);
      const mounted = cartridge.state === 'scratch' && cartridge.location === 'drive';
      const ofFailedSet = cartridge.state === 'private' && cartridge.setId === setId;
      if (mounted || ofFailedSet)
        updateCartridge(db, library.path, {
          ...cartridge,
          state: 'scratch',
          location: 'slot',
          drive: null,
          expiresAt: null,
          setId: null,
          setSequence: null,
          vaultUrl: null,
        });
    }
  });
}

/**
 * Returns to scratch every private cartridge whose retention ended by `now` (a multi-volume set
 * together, since its cartridges share one expiry). WORM cartridges never return: WORM media is
 * written once.
 */
export function expireCartridges(catalog: Catalog, dir: string, now: Date = new Date()): CartridgeRecord[] {
  const library = openLibrary(catalog, dir);
  return catalog.write((db) => {
    const due = listCartridges(db, library.path).filter(
      (c) => c.state === 'private' && !c.worm && c.location === 'slot' && c.expiresAt !== null && c.expiresAt <= now.toISOString(),
    );
    return due.map((c) => {
      const scratch: CartridgeRecord = { ...c, state: 'scratch', expiresAt: null, setId: null, setSequence: null, vaultUrl: null };
      updateCartridge(db, library.path, scratch);
      return scratch;
    });
  });
}

/**
 * The cartridges of the backup set that cartridge `volser` belongs to, in set order, with their
 * paths. A cartridge away from the library is refused; a vaulted one too, unless `vaulted` (a
 * reader that fetches it from the vault).
 */
export function cartridgeSet(
  catalog: Catalog,
  dir: string,
  volser: string,
  options: { readonly vaulted?: boolean } = {},
): (CartridgeRecord & { readonly path: string })[] {
  const library = openLibrary(catalog, dir);
  const cartridge = requireCartridge(catalog.db, library, volser);
  if (cartridge.state !== 'private' || cartridge.setId === null)
    throw new LibraryError(`Cannot read cartridge ${cartridge.volser}: it is scratch and holds no backup`, { volser: cartridge.volser });
  const set = listCartridges(catalog.db, library.path)
    .filter((c) => c.setId === cartridge.setId)
    .sort((a, b) => (a.setSequence ?? 0) - (b.setSequence ?? 0));
  const away = set.find((c) => c.location !== 'slot' && c.location !== 'drive' && !(options.vaulted === true && c.location === 'vaulted'));
  if (away)
    throw new LibraryError(`Cannot read backup set of cartridge ${cartridge.volser}: cartridge ${away.volser} is ${away.location}`, { volser: away.volser });
  return set.map((c) => ({ ...c, path: cartridgePath(library.path, c.volser) }));
}

/**
 * The cartridge `volser` about to be vaulted: a private cartridge in its slot (a drive may be
 * writing it; a scratch one holds nothing worth keeping). Its row is not changed: until the upload
 * is verified (recordVaulted), the cartridge is local and not vaulted.
 */
export function cartridgeToVault(catalog: Catalog, dir: string, volser: string): CartridgeRecord & { readonly path: string } {
  const library = openLibrary(catalog, dir);
  const cartridge = requireCartridge(catalog.db, library, volser);
  if (cartridge.state !== 'private') throw new LibraryError(`Cannot vault cartridge ${cartridge.volser}: it is scratch and holds no backup`, { volser });
  if (cartridge.location !== 'slot')
    throw new LibraryError(`Cannot vault cartridge ${cartridge.volser}: it is ${cartridge.location}, not in its slot`, { volser: cartridge.volser });
  return { ...cartridge, path: cartridgePath(library.path, cartridge.volser) };
}

/** Records a verified upload to `url`: with `removedLocal` the cartridge now lives only there (vaulted); otherwise it stays in its slot with a copy in the vault. */
export function recordVaulted(catalog: Catalog, dir: string, volser: string, url: string, removedLocal: boolean): CartridgeRecord {
  const library = openLibrary(catalog, dir);
  return catalog.write((db) => {
    const cartridge = requireCartridge(db, library, volser);
    const next: CartridgeRecord = { ...cartridge, vaultUrl: url, ...(removedLocal ? { location: 'vaulted' as const } : {}) };
    updateCartridge(db, library.path, next);
    return next;
  });
}

/**
 * Marks a vaulted cartridge as being recalled and returns it with its path and vault. A recall
 * that stopped (the cartridge still `recalling`) may start again.
 */
export function beginRecall(catalog: Catalog, dir: string, volser: string): CartridgeRecord & { readonly path: string; readonly vaultUrl: string } {
  const library = openLibrary(catalog, dir);
  return catalog.write((db) => {
    const cartridge = requireCartridge(db, library, volser);
    if ((cartridge.location !== 'vaulted' && cartridge.location !== 'recalling') || cartridge.vaultUrl === null)
      throw new LibraryError(`Cannot recall cartridge ${cartridge.volser}: it is ${cartridge.location}, not vaulted`, { volser: cartridge.volser });
    const next = { ...cartridge, location: 'recalling' as const };
    updateCartridge(db, library.path, next);
    return { ...next, path: cartridgePath(library.path, cartridge.volser), vaultUrl: cartridge.vaultUrl };
  });
}

/**
 * A recall that was refused (its fetch failed, or the vault's copy is not this cartridge) leaves
 * the cartridge as it was: vaulted, read in place, recalled again later. Only a cartridge still
 * `recalling` goes back; one that a recall finished meanwhile stays in its slot. A recall that
 * died without refusing (a crash) leaves it `recalling`, which the next recall restarts.
 */
export function abandonRecall(catalog: Catalog, dir: string, volser: string): CartridgeRecord {
  const library = openLibrary(catalog, dir);
  return catalog.write((db) => {
    const cartridge = requireCartridge(db, library, volser);
    if (cartridge.location !== 'recalling') return cartridge;
    const next = { ...cartridge, location: 'vaulted' as const };
    updateCartridge(db, library.path, next);
    return next;
  });
}

/** A recalled cartridge is back in its slot, its copy still in the vault. */
export function finishRecall(catalog: Catalog, dir: string, volser: string): CartridgeRecord {
  const library = openLibrary(catalog, dir);
  return catalog.write((db) => {
    const next = { ...requireCartridge(db, library, volser), location: 'slot' as const };
    updateCartridge(db, library.path, next);
    return next;
  });
}

/** A cartridge new in `slot`: scratch, never written. */
function scratchCartridge(volser: string, media: MediaType, where: { readonly pool: string; readonly slot: number; readonly worm: boolean }): CartridgeRecord {
  return {
    volser,
    barcode: barcodeOf(volser, media),
    pool: where.pool,
    state: 'scratch',
    location: 'slot',
    slot: where.slot,
    drive: null,
    worm: where.worm,
    expiresAt: null,
    writtenAt: null,
    setId: null,
    setSequence: null,
    sha256: null,
    vaultUrl: null,
  };
}
