/**
 * A tape library's S3 vault: `library vault` uploads a private cartridge with its manifest and
 * records where it went only once the upload is verified (so a vault that stops halfway leaves the
 * cartridge local and not vaulted); `library recall` brings it back; and a restore of one data set
 * reads a vaulted backup set in place: each vaulted cartridge is fetched in part (its labels, then
 * the chosen data set's sections) into sparse scratch files, which the one restore path reads.
 */
import { ownFolder } from '../base/file-io.js';
import { join } from 'node:path';
import { withCatalog } from '../catalog/catalog.js';
import { LibraryError, LockedError, VaultError } from '../errors/snaptape-error.js';
import { fileSha256 } from '../base/file-digest.js';
import {
  abandonRecall,
  beginRecall,
  cartridgeSet,
  cartridgeToVault,
  finishRecall,
  listLibrary,
  recordVaulted,
  type CartridgeRecord,
} from '../library/index.js';
import type { TapeIndex } from '../tape/tape-index.js';
import { joinTapeVolumes } from '../tape/multi-volume.js';
import { openBackupTape } from '../techniques/restore/backup-tape.js';
import {
  cartridgeKey,
  createVaultClient,
  fetchCartridgeBlocks,
  labelBlockNumbers,
  manifestIndex,
  objectSha256,
  parseS3Url,
  readVaultManifest,
  recallCartridge,
  vaultCartridge,
  type RecallResult,
  type S3Location,
  type VaultManifest,
  type VaultResult,
} from '../vault/index.js';

export interface LibraryVaultResult extends VaultResult {
  readonly cartridge: CartridgeRecord;
}

/** Days an Object Lock holds a WORM cartridge that the library keeps forever (it has no expiry). */
const WORM_LOCK_DAYS_WITHOUT_EXPIRY = 3650;

/**
 * Vaults cartridge `volser` of library `dir` to `url` (s3://bucket/prefix), in its pool's storage
 * class; a WORM cartridge gets a COMPLIANCE Object Lock until its expiry where the bucket has Object
 * Lock. The catalog changes only after the upload is verified: vaulted with `removeLocal` (the
 * file deleted after a read-back), else still in its slot with a copy in the vault.
 */
export async function vaultLibraryCartridge(
  dir: string,
  volser: string,
  url: string,
  options: { readonly catalog: string; readonly removeLocal?: boolean; readonly onProgress?: (sentBytes: number, totalBytes: number) => void },
): Promise<LibraryVaultResult> {
  const location = parseS3Url(url);
  const { cartridge, storageClass } = await withCatalog(options.catalog, (catalog) => {
    const found = cartridgeToVault(catalog, dir, volser);
    const pool = listLibrary(catalog, dir).pools.find((p) => p.name === found.pool);
    return { cartridge: found, storageClass: pool?.storageClass ?? undefined };
  });
  const retainUntil = cartridge.worm ? new Date(cartridge.expiresAt ?? Date.now() + WORM_LOCK_DAYS_WITHOUT_EXPIRY * 86_400_000) : undefined;
  const result = await vaultCartridge(await createVaultClient(), cartridge.path, cartridge.volser, location, {
    removeLocal: options.removeLocal,
    storageClass,
    retainUntil,
    onProgress: options.onProgress,
    // Its own earlier copy there is replaced; any other cartridge of its volser is not.
    replace: cartridge.vaultUrl === url,
  });
  const recorded = await withCatalog(options.catalog, (catalog) => recordVaulted(catalog, dir, cartridge.volser, url, result.removedLocal));
  return { ...result, cartridge: recorded };
}

/** Brings vaulted cartridge `volser` back into its slot, checked against its manifest before it takes its name. */
export async function recallLibraryCartridge(
  dir: string,
  volser: string,
  options: { readonly catalog: string; readonly onProgress?: (receivedBytes: number, totalBytes: number) => void },
): Promise<{ readonly cartridge: CartridgeRecord; readonly sizeBytes: number; readonly sha256: string; readonly url: string }> {
  const cartridge = await withCatalog(options.catalog, (catalog) => beginRecall(catalog, dir, volser));
  let recalled: RecallResult;
  try {
    const location = parseS3Url(cartridge.vaultUrl);
    const client = await createVaultClient();
    const manifest = await readVaultManifest(client, location, cartridge.volser);
    requireRecordedCartridge('recall', cartridge, location, manifest);
    recalled = await recallCartridge(client, location, manifest, cartridge.path, options.onProgress);
  } catch (error) {
    // Refused, it left no file (recallCartridge removes its partial one): the cartridge is vaulted
    // as it was, not `recalling`, which would keep a restore in place from reading it. A recall
    // refused because another holds the cartridge's lock leaves the state to that one. The refusal
    // is what is thrown: a catalog that cannot be written now leaves `recalling`, as a crash would.
    if (!(error instanceof LockedError)) {
      await withCatalog(options.catalog, (catalog) => abandonRecall(catalog, dir, cartridge.volser)).catch(() => undefined);
    }
    throw error;
  }
  const back = await withCatalog(options.catalog, (catalog) => finishRecall(catalog, dir, cartridge.volser));
  return { cartridge: back, sizeBytes: recalled.sizeBytes, sha256: recalled.sha256, url: cartridge.vaultUrl };
}

/**
 * The manifest proves the object is what it says; the library's record (the SHA-256 the backup
 * wrote), that it is this cartridge and not another of its volser. VaultError naming both.
 */
function requireRecordedCartridge(action: string, cartridge: CartridgeRecord, location: S3Location, manifest: VaultManifest): void {
  if (cartridge.sha256 === null || manifest.sha256 === cartridge.sha256) return;
  const where = `s3://${location.bucket}/${cartridgeKey(location, cartridge.volser)}`;
  throw new VaultError(
    `Cannot ${action} cartridge ${cartridge.volser} from ${where}: the vault holds a cartridge with SHA-256 ${manifest.sha256}, the library wrote ${cartridge.sha256}`,
    { volser: cartridge.volser, object: where },
  );
}

interface Section {
  readonly path: string;
  readonly index?: TapeIndex;
  readonly vaulted?: { readonly location: S3Location; readonly manifest: VaultManifest };
}

export interface VaultedSetTape {
  readonly tapePath: string;
  /** The index to read `tapePath` with, when it is one vaulted cartridge fetched in part. */
  readonly tapeIndex?: TapeIndex;
  readonly bytesFetched: number;
  readonly cartridgeBytes: number;
}

/**
 * The tape of a backup set some of whose cartridges are vaulted, for a restore of `dataset` only:
 * each vaulted cartridge becomes a sparse scratch file in `scratchDir` holding its labels and that
 * data set's blocks, fetched by ranged GETs; a set of several cartridges is then joined into one
 * tape (the blocks not fetched are zeros there, and no restore of `dataset` reads them).
 */
export async function vaultedSetTape(
  set: readonly (CartridgeRecord & { readonly path: string })[],
  dataset: string,
  scratchDir: string,
): Promise<VaultedSetTape> {
  // A link at its name (whoever can write the folder above may put one there) would land the
  // fetched cartridges in the folder it names: refused (file-io.ts ownFolder).
  ownFolder(scratchDir, 'the folder a vaulted set is fetched into');
  const client = await createVaultClient();
  let bytesFetched = 0;
  let cartridgeBytes = 0;
  const sections: Section[] = [];
  for (const c of set) {
    if (c.location !== 'vaulted') {
      sections.push({ path: c.path });
      continue;
    }
    if (c.vaultUrl === null) throw new LibraryError(`Cannot read cartridge ${c.volser}: it is vaulted but the catalog names no vault`, { volser: c.volser });
    const location = parseS3Url(c.vaultUrl);
    const manifest = await readVaultManifest(client, location, c.volser);
    requireRecordedCartridge('read', c, location, manifest);
    const path = join(scratchDir, `${c.volser}.aws`);
    const index = manifestIndex(manifest, path);
    bytesFetched += (await fetchCartridgeBlocks(client, location, manifest, index, labelBlockNumbers(manifest), path)).bytesFetched;
    cartridgeBytes += manifest.sizeBytes;
    sections.push({ path, index, vaulted: { location, manifest } });
  }
  const joined = join(scratchDir, 'joined.aws');
  const tapeOf = (): { path: string; index?: TapeIndex } => {
    const only = sections[0];
    if (sections.length === 1 && only !== undefined) return { path: only.path, index: only.index };
    joinTapeVolumes(
      sections.map((s) => s.path),
      joined,
      sections.map((s) => s.index),
    );
    return { path: joined };
  };
  // The labels name the data set's file; each vaulted cartridge then gives that file's blocks.
  const labelsOnly = tapeOf();
  const tape = openBackupTape(labelsOnly.path, { index: labelsOnly.index });
  const wanted = dataset.toUpperCase();
  const element = tape.elements.find((e) => (e.description.dsname ?? e.name) === wanted);
  tape.reader.close();
  if (element !== undefined) {
    for (const s of sections) {
      if (s.vaulted === undefined || s.index === undefined) continue;
      const blocks = s.vaulted.manifest.dataSets
        .filter((d) => d.fileSequence === element.fileSequence)
        .flatMap((d) => Array.from({ length: d.blockCount }, (_, j) => d.firstBlockNumber + j));
      bytesFetched += (await fetchCartridgeBlocks(client, s.vaulted.location, s.vaulted.manifest, s.index, blocks, s.path)).bytesFetched;
    }
  }
  const whole = tapeOf();
  return { tapePath: whole.path, tapeIndex: whole.index, bytesFetched, cartridgeBytes };
}

export interface CartridgeCheck {
  readonly volser: string;
  readonly location: string;
  /** Where the bytes checked were read: the cartridge file, or its object in the vault. */
  readonly read: string;
  readonly sha256: string;
  /** The SHA-256 the library recorded when the backup wrote the cartridge. */
  readonly recorded: string | null;
  readonly ok: boolean;
}

export interface VaultedSetCheck {
  readonly volser: string;
  readonly cartridges: readonly CartridgeCheck[];
  readonly ok: boolean;
}

/** True when some cartridge of the backup set of `volser` lives only in the vault. */
export async function hasVaultedCartridges(dir: string, volser: string, options: { readonly catalog: string }): Promise<boolean> {
  const set = await withCatalog(options.catalog, (catalog) => cartridgeSet(catalog, dir, volser, { vaulted: true }));
  return set.some((c) => c.location === 'vaulted');
}

/**
 * `verify --library` of a set with vaulted cartridges, in place: each vaulted cartridge's object is
 * hashed as it streams from the store (nothing is written locally) and must match both its
 * manifest and the SHA-256 the library recorded when the backup wrote it; a cartridge still in the
 * library is hashed from its file against the same record. The backup's own element digests were
 * checked against those bytes when it was written (its read-back).
 */
export async function verifyVaultedSet(dir: string, volser: string, options: { readonly catalog: string }): Promise<VaultedSetCheck> {
  const set = await withCatalog(options.catalog, (catalog) => cartridgeSet(catalog, dir, volser, { vaulted: true }));
  const client = await createVaultClient();
  const cartridges: CartridgeCheck[] = [];
  for (const c of set) {
    if (c.location === 'vaulted' && c.vaultUrl !== null) {
      const location = parseS3Url(c.vaultUrl);
      const manifest = await readVaultManifest(client, location, c.volser);
      const sha256 = await objectSha256(client, location.bucket, cartridgeKey(location, c.volser));
      cartridges.push({
        volser: c.volser,
        location: c.location,
        read: `${c.vaultUrl}/${c.volser}.aws`,
        sha256,
        recorded: c.sha256,
        ok: sha256 === manifest.sha256 && sha256 === c.sha256,
      });
    } else {
      const sha256 = fileSha256(c.path, 'the cartridge').sha256;
      cartridges.push({ volser: c.volser, location: c.location, read: c.path, sha256, recorded: c.sha256, ok: sha256 === c.sha256 });
    }
  }
  return { volser: volser.toUpperCase(), cartridges, ok: cartridges.every((c) => c.ok) };
}
