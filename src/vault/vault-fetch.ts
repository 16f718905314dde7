/**
 * Reads a vaulted cartridge back: its manifest, the whole object (a recall, hashed as it streams
 * and checked against the manifest before it takes the cartridge's name), or only some of its
 * blocks by ranged GETs into a sparse local file that the tape reader opens with the manifest's
 * index (a restore of one data set in place, without a download of the cartridge).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, openSync, rmSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type FsExtra from 'fs-extra';
import { openRegularFile, writeFully } from '../base/file-io.js';
import { translateIoError } from '../errors/io-error.js';
import { VaultError } from '../errors/snaptape-error.js';
import type { TapeIndex } from '../tape/tape-index.js';
import { loadS3Sdk } from './s3-client.js';
import { vaultFailure } from './s3-failure.js';
import { cartridgeKey, manifestKey, type S3Location } from './s3-location.js';
import { MAX_MANIFEST_BYTES, parseVaultManifest, type VaultManifest } from './vault-manifest.js';
import { lazyPackage } from '../base/lazy-package.js';
import { lockImage } from '../image/image-lock.js';

const fse = lazyPackage<typeof FsExtra>('fs-extra');

async function getObject(client: S3Client, bucket: string, key: string, range?: string, abortSignal?: AbortSignal): Promise<Readable> {
  const { GetObjectCommand } = await loadS3Sdk();
  const answer = await client.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, ...(range === undefined ? {} : { Range: range }) }),
    abortSignal === undefined ? {} : { abortSignal },
  );
  if (answer.Body === undefined) throw new VaultError(`Cannot read s3://${bucket}/${key}: the store returned no body`, { object: `s3://${bucket}/${key}` });
  return answer.Body as Readable;
}

/** SHA-256 of a stored object, streamed (nothing kept but the hash). */
export async function objectSha256(client: S3Client, bucket: string, key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await getObject(client, bucket, key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function readVaultManifest(client: S3Client, location: S3Location, volser: string): Promise<VaultManifest> {
  const key = manifestKey(location, volser);
  const where = `s3://${location.bucket}/${key}`;
  try {
    const parts: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of await getObject(client, location.bucket, key)) {
      bytes += (chunk as Buffer).length;
      // Bounded: a manifest larger than any cartridge's is refused before it fills memory.
      if (bytes > MAX_MANIFEST_BYTES)
        throw new VaultError(`Cannot use the vault manifest ${where}: it is longer than ${MAX_MANIFEST_BYTES} bytes`, { object: where });
      parts.push(chunk as Buffer);
    }
    const manifest = parseVaultManifest(Buffer.concat(parts).toString('utf8'), where);
    if (manifest.volser !== volser)
      throw new VaultError(`Cannot use the vault manifest ${where}: it describes ${manifest.volser}, not ${volser}`, { object: where });
    return manifest;
  } catch (error) {
    throw vaultFailure(error, 'read the vault manifest', where);
  }
}

export interface RecallResult {
  readonly path: string;
  readonly sizeBytes: number;
  readonly sha256: string;
}

/**
 * Downloads the whole cartridge to `path`: into `<path>.recall` first, hashed while it streams,
 * renamed only when its size and SHA-256 match the manifest (a broken download leaves no cartridge).
 */
export async function recallCartridge(
  client: S3Client,
  location: S3Location,
  manifest: VaultManifest,
  path: string,
  onProgress?: (receivedBytes: number, totalBytes: number) => void,
): Promise<RecallResult> {
  // One recall to a path at a time, and none while a writer holds the tape: the lock is the
  // tape's own (`<path>.lock`, as tape-lock.ts takes it), held until the cartridge has its name.
  const lock = lockImage(path, `recall a cartridge to ${path}`);
  try {
    return await recallLocked(client, location, manifest, path, onProgress);
  } finally {
    lock.release();
  }
}

async function recallLocked(
  client: S3Client,
  location: S3Location,
  manifest: VaultManifest,
  path: string,
  onProgress?: (receivedBytes: number, totalBytes: number) => void,
): Promise<RecallResult> {
  const key = cartridgeKey(location, manifest.volser);
  const where = `s3://${location.bucket}/${key}`;
  const partial = `${path}.recall`;
  let fd: number;
  try {
    // What a recall that stopped left is ours to replace (under the lock); a new file, not a link's target.
    rmSync(partial, { force: true });
    fd = openSync(partial, 'wx', 0o644);
  } catch (cause) {
    throw translateIoError(cause, 'recall cartridge to', partial);
  }
  const hash = createHash('sha256');
  let at = 0;
  try {
    for await (const chunk of await getObject(client, location.bucket, key)) {
      const bytes = chunk as Buffer;
      if (at + bytes.length > manifest.sizeBytes)
        throw new VaultError(`Cannot recall ${where}: the object is longer than the manifest's ${manifest.sizeBytes} bytes`, { object: where });
      writeFully(fd, bytes, at, partial, 'the recalled cartridge');
      hash.update(bytes);
      at += bytes.length;
      onProgress?.(at, manifest.sizeBytes);
    }
  } catch (error) {
    closeSync(fd);
    await fse().remove(partial);
    throw vaultFailure(error, 'recall', where);
  }
  closeSync(fd);
  const sha256 = hash.digest('hex');
  if (at !== manifest.sizeBytes || sha256 !== manifest.sha256) {
    await fse().remove(partial);
    throw new VaultError(
      `Cannot recall ${where}: got ${at} bytes with SHA-256 ${sha256}, the manifest says ${manifest.sizeBytes} bytes with ${manifest.sha256}`,
      {
        object: where,
      },
    );
  }
  await fse().move(partial, path, { overwrite: false });
  return { path, sizeBytes: at, sha256 };
}

/** Blocks of a cartridge that are not data-set data: its labels and tapemarks. */
export function labelBlockNumbers(manifest: VaultManifest): number[] {
  const data = new Set<number>();
  for (const ds of manifest.dataSets) for (let b = ds.firstBlockNumber; b < ds.firstBlockNumber + ds.blockCount; b++) data.add(b);
  const labels: number[] = [];
  manifest.index.forEach((row, blockNumber) => {
    if (!data.has(blockNumber)) labels.push(blockNumber);
  });
  return labels;
}

/** Byte ranges of the blocks, with neighbours closer than this merged into one GET. */
const MERGE_GAP_BYTES = 64 * 1024;
/** One ranged GET fetches at most this much, so that a request's buffer stays bounded. */
const MAX_RANGE_BYTES = 8 * 1024 * 1024;
const RANGES_IN_FLIGHT = 4;

export interface FetchResult {
  readonly bytesFetched: number;
  readonly requests: number;
}

/**
 * Fills `path` (a sparse file of the cartridge's size, made by the first call) with the given blocks, by ranged GETs of the
 * vaulted object; the other bytes stay holes. `index` is the manifest's (manifestIndex).
 */
export async function fetchCartridgeBlocks(
  client: S3Client,
  location: S3Location,
  manifest: VaultManifest,
  index: TapeIndex,
  blockNumbers: Iterable<number>,
  path: string,
): Promise<FetchResult> {
  const key = cartridgeKey(location, manifest.volser);
  const where = `s3://${location.bucket}/${key}`;
  const spans: Array<[number, number]> = [];
  for (const b of [...new Set(blockNumbers)].sort((x, y) => x - y)) {
    const entry = index.entryAt(b);
    if (entry === undefined)
      throw new VaultError(`Cannot fetch block ${b} of ${where}: the cartridge has ${index.entryCount} blocks`, { object: where, blockNumber: b });
    const last = spans[spans.length - 1];
    if (last !== undefined && entry.offsetBytes - last[1] <= MERGE_GAP_BYTES && entry.endOffsetBytes - last[0] <= MAX_RANGE_BYTES)
      last[1] = entry.endOffsetBytes;
    else spans.push([entry.offsetBytes, entry.endOffsetBytes]);
  }
  // The first fetch makes the sparse file; later ones fill more of it. It sits in a folder that
  // others may write (a library's staging folder): a link at its name is refused, and the file it
  // names left alone (file-io.ts SideFileOpen); a dangling one is no file (existsSync), and refused.
  const fresh = !existsSync(path);
  const fd = openRegularFile(path, 'the partial cartridge', true, { noFollow: true, replace: fresh, mode: 0o600 }).fd;
  if (fresh) {
    try {
      ftruncateSync(fd, manifest.sizeBytes);
    } catch (cause) {
      closeSync(fd);
      throw translateIoError(cause, 'make the partial cartridge', path);
    }
  }
  let bytesFetched = 0;
  // The first failure stops every range: its request is aborted and its body destroyed, and the
  // file is closed only once every worker has stopped writing to it (a late write to a closed
  // descriptor lands in whatever file reuses its number).
  const abort = new AbortController();
  const bodies = new Set<Readable>();
  let failure: { readonly error: unknown } | undefined;
  const stop = (error: unknown): void => {
    if (failure !== undefined) return;
    failure = { error };
    abort.abort();
    for (const body of bodies) body.destroy();
  };
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      // Bounded: each pass takes the next span, and there are spans.length of them.
      while (failure === undefined && next < spans.length) {
        const [start, end] = spans[next++] as [number, number];
        let at = start;
        const body = await getObject(client, location.bucket, key, `bytes=${start}-${end - 1}`, abort.signal);
        bodies.add(body);
        if (failure !== undefined) body.destroy();
        try {
          for await (const chunk of body) {
            if (failure !== undefined) return;
            const bytes = chunk as Buffer;
            if (at + bytes.length > end) throw new VaultError(`Cannot fetch bytes ${start}-${end - 1} of ${where}: the store sent more`, { object: where });
            writeFully(fd, bytes, at, path, 'the partial cartridge');
            at += bytes.length;
          }
        } finally {
          bodies.delete(body);
        }
        if (at !== end)
          throw new VaultError(`Cannot fetch bytes ${start}-${end - 1} of ${where}: the store sent ${at - start} of ${end - start}`, { object: where });
        bytesFetched += end - start;
      }
    };
    await Promise.all(Array.from({ length: Math.min(RANGES_IN_FLIGHT, spans.length) }, () => worker().catch(stop)));
  } finally {
    closeSync(fd);
  }
  if (failure !== undefined) throw vaultFailure(failure.error, 'fetch blocks of', where);
  return { bytesFetched, requests: spans.length };
}
