/**
 * The S3 vault as the library and the CLI use it: vault a cartridge file, recall it, and restore
 * from it in place: only the labels and the chosen data set's blocks are fetched, by ranged GETs,
 * into a sparse scratch file that the one restore path reads through the manifest's index.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type FsExtra from 'fs-extra';
import { UsageError } from '../errors/snaptape-error.js';
import { openBackupTape } from '../techniques/restore/backup-tape.js';
import { restoreTape, type RestoreOptions, type RestoreResult } from '../techniques/restore/restore-tape.js';
import {
  createVaultClient,
  fetchCartridgeBlocks,
  labelBlockNumbers,
  manifestIndex,
  parseS3Url,
  readVaultManifest,
  recallCartridge,
  vaultCartridge,
  type RecallResult,
  type VaultOptions,
  type VaultResult,
} from '../vault/index.js';
import { lazyPackage } from '../base/lazy-package.js';

const fse = lazyPackage<typeof FsExtra>('fs-extra');

export type { RecallResult, VaultOptions, VaultResult };

/** Uploads the cartridge file `path` as `volser` to `url` (s3://bucket/prefix) with its manifest. Throws VaultError with one clear line when the store cannot be reached or refuses. */
export async function vaultTape(path: string, volser: string, url: string, options: VaultOptions = {}): Promise<VaultResult> {
  return vaultCartridge(await createVaultClient(), path, volser, parseS3Url(url), options);
}

/** Downloads the vaulted cartridge `volser` from `url` to `path`, checked against its manifest's SHA-256 before it takes the name. */
export async function recallTape(
  url: string,
  volser: string,
  path: string,
  onProgress?: (receivedBytes: number, totalBytes: number) => void,
): Promise<RecallResult> {
  const location = parseS3Url(url);
  const client = await createVaultClient();
  const manifest = await readVaultManifest(client, location, volser);
  return recallCartridge(client, location, manifest, path, onProgress);
}

export interface VaultRestoreResult extends RestoreResult {
  /** Bytes fetched from the store: the labels and the restored elements' blocks. */
  readonly bytesFetched: number;
  readonly requests: number;
  /** The whole cartridge's size, for comparison. */
  readonly cartridgeBytes: number;
}

/**
 * Restores from a vaulted cartridge without downloading it: the labels first, then only the blocks
 * of the elements the restore reads (one data set with `dataset`, else all), verified by their
 * SHA-256 as any restore is. Throws what restoreTape and the vault throw.
 */
export async function restoreFromVault(url: string, volser: string, options: RestoreOptions): Promise<VaultRestoreResult> {
  if (options.tapeStartBlock !== undefined) throw new UsageError(`Cannot restore ${volser} from ${url}: a vaulted cartridge is a tape file of its own`);
  const location = parseS3Url(url);
  const client = await createVaultClient();
  const manifest = await readVaultManifest(client, location, volser);
  const scratch = mkdtempSync(join(tmpdir(), 'snaptape-vault-'));
  try {
    const partial = join(scratch, `${volser}.aws`);
    const index = manifestIndex(manifest, partial);
    const labels = await fetchCartridgeBlocks(client, location, manifest, index, labelBlockNumbers(manifest), partial);
    const tape = openBackupTape(partial, { index });
    const wanted = options.dataset?.toUpperCase();
    const chosen = tape.elements.filter((e) => wanted === undefined || (e.description.dsname ?? e.name) === wanted);
    tape.reader.close();
    const blocks = chosen.flatMap((e) => Array.from({ length: e.blockCount }, (_, j) => e.firstBlockNumber + j));
    const data = await fetchCartridgeBlocks(client, location, manifest, index, blocks, partial);
    const result = restoreTape(partial, { ...options, tapeIndex: index });
    return { ...result, bytesFetched: labels.bytesFetched + data.bytesFetched, requests: labels.requests + data.requests, cartridgeBytes: manifest.sizeBytes };
  } finally {
    await fse().remove(scratch);
  }
}
