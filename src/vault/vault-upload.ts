/**
 * Vaults a cartridge: its bytes to `<prefix>/<volser>.aws` by multipart upload, then its manifest.
 * The upload is checked before anything local is given up: the object's size always, and with
 * `removeLocal` the object is read back whole and its SHA-256 compared with the manifest's, so a
 * file that changed during the upload, or an object the store corrupted, keeps the local copy.
 */
import { createReadStream } from 'node:fs';
import type { S3Client, StorageClass } from '@aws-sdk/client-s3';
import type FsExtra from 'fs-extra';
import { VaultError } from '../errors/snaptape-error.js';
import { objectSha256, readVaultManifest } from './vault-fetch.js';
import { buildVaultManifest, type VaultManifest } from './vault-manifest.js';
import { loadS3Sdk, loadS3Uploads } from './s3-client.js';
import { vaultFailure } from './s3-failure.js';
import { cartridgeKey, manifestKey, s3Url, type S3Location } from './s3-location.js';
import { lazyPackage } from '../base/lazy-package.js';

const fse = lazyPackage<typeof FsExtra>('fs-extra');

/** Parts of 16 MiB, 4 in flight: a 3590 cartridge (10 GB) is about 600 parts, under S3's 10,000. */
export const VAULT_PART_BYTES = 16 * 1024 * 1024;
export const VAULT_PARTS_IN_FLIGHT = 4;

export interface VaultOptions {
  /** The pool's storage class (STANDARD, GLACIER, DEEP_ARCHIVE…); the server's default if absent. */
  readonly storageClass?: string;
  /** A WORM cartridge: lock both objects in COMPLIANCE mode until this date, where the bucket has Object Lock. */
  readonly retainUntil?: Date;
  /** Delete the local file once the object has been read back and matched. */
  readonly removeLocal?: boolean;
  /** Told the bytes uploaded so far. */
  readonly onProgress?: (sentBytes: number, totalBytes: number) => void;
  /**
   * Replace a cartridge of this volser already vaulted at the location (its manifest there), as a
   * library does for a cartridge it vaulted there itself. Without it such a cartridge is left as it
   * is and the vault refused, unless it is this very cartridge (the same SHA-256).
   */
  readonly replace?: boolean;
}

export interface VaultResult {
  readonly volser: string;
  readonly url: string;
  readonly key: string;
  readonly manifestKey: string;
  readonly sizeBytes: number;
  readonly sha256: string;
  /** 'read-back': the whole object was hashed again; 'size': its length was checked. */
  readonly verified: 'read-back' | 'size';
  /** COMPLIANCE when the store locks the objects; 'none' when it has no Object Lock (the library still enforces WORM). */
  readonly objectLock: 'COMPLIANCE' | 'none';
  readonly removedLocal: boolean;
  readonly manifest: VaultManifest;
}

async function bucketHasObjectLock(client: S3Client, bucket: string): Promise<boolean> {
  const { GetObjectLockConfigurationCommand } = await loadS3Sdk();
  try {
    const answer = await client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    return answer.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'ObjectLockConfigurationNotFoundError' || name === 'NotImplemented') return false;
    throw vaultFailure(error, 'read the Object Lock setting of', `s3://${bucket}`);
  }
}

/**
 * Refuses to vault over another cartridge of the same volser already vaulted at `location` (another
 * library's A00001 in a shared prefix): replaced, it would be lost, and its library would recall
 * this one in its place. A cartridge is vaulted once its manifest is stored (it is written after
 * the object), so an object without one, left by a vault that stopped, is replaced.
 */
async function refuseOtherCartridge(client: S3Client, location: S3Location, manifest: VaultManifest, path: string): Promise<void> {
  const { HeadObjectCommand } = await loadS3Sdk();
  const mKey = manifestKey(location, manifest.volser);
  try {
    await client.send(new HeadObjectCommand({ Bucket: location.bucket, Key: mKey }));
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (error as { name?: string }).name === 'NotFound') return;
    throw vaultFailure(error, 'look for a vaulted cartridge at', `s3://${location.bucket}/${mKey}`);
  }
  const stored = await readVaultManifest(client, location, manifest.volser);
  if (stored.sha256 === manifest.sha256) return;
  const where = `s3://${location.bucket}/${cartridgeKey(location, manifest.volser)}`;
  throw new VaultError(
    `Cannot vault ${path} to ${where}: the vault already holds another cartridge ${manifest.volser} there (SHA-256 ${stored.sha256}, this one ${manifest.sha256}); vault to another prefix`,
    { path, object: where },
  );
}

export async function vaultCartridge(client: S3Client, path: string, volser: string, location: S3Location, options: VaultOptions = {}): Promise<VaultResult> {
  const manifest = buildVaultManifest(path, volser);
  const key = cartridgeKey(location, volser);
  const where = `s3://${location.bucket}/${key}`;
  const [{ HeadBucketCommand, HeadObjectCommand, PutObjectCommand }, { Upload }] = await Promise.all([loadS3Sdk(), loadS3Uploads()]);
  try {
    await client.send(new HeadBucketCommand({ Bucket: location.bucket }));
  } catch (error) {
    throw vaultFailure(error, 'reach the vault', s3Url(location));
  }
  if (options.replace !== true) await refuseOtherCartridge(client, location, manifest, path);
  const locked = options.retainUntil !== undefined && (await bucketHasObjectLock(client, location.bucket));
  const lock = locked ? { ObjectLockMode: 'COMPLIANCE' as const, ObjectLockRetainUntilDate: options.retainUntil } : {};
  const storage = options.storageClass === undefined ? {} : { StorageClass: options.storageClass as StorageClass };
  try {
    const upload = new Upload({
      client,
      params: { Bucket: location.bucket, Key: key, Body: createReadStream(path), ContentType: 'application/octet-stream', ...storage, ...lock },
      partSize: VAULT_PART_BYTES,
      queueSize: VAULT_PARTS_IN_FLIGHT,
      leavePartsOnError: false,
    });
    upload.on('httpUploadProgress', (p) => options.onProgress?.(p.loaded ?? 0, manifest.sizeBytes));
    await upload.done();
    const mKey = manifestKey(location, volser);
    await client.send(
      new PutObjectCommand({ Bucket: location.bucket, Key: mKey, Body: JSON.stringify(manifest), ContentType: 'application/json', ...storage, ...lock }),
    );
    const head = await client.send(new HeadObjectCommand({ Bucket: location.bucket, Key: key }));
    if (head.ContentLength !== manifest.sizeBytes) {
      throw new VaultError(`Cannot vault ${path} to ${where}: the object holds ${head.ContentLength ?? 0} bytes, the cartridge ${manifest.sizeBytes}`, {
        path,
        object: where,
      });
    }
    let verified: VaultResult['verified'] = 'size';
    if (options.removeLocal === true) {
      const stored = await objectSha256(client, location.bucket, key);
      if (stored !== manifest.sha256) {
        throw new VaultError(
          `Cannot vault ${path} to ${where}: the object's SHA-256 ${stored} differs from the cartridge's ${manifest.sha256}; the local file is kept`,
          {
            path,
            object: where,
          },
        );
      }
      verified = 'read-back';
      await fse().remove(path);
    }
    return {
      volser,
      url: `s3://${location.bucket}/${key}`,
      key,
      manifestKey: mKey,
      sizeBytes: manifest.sizeBytes,
      sha256: manifest.sha256,
      verified,
      objectLock: locked ? 'COMPLIANCE' : 'none',
      removedLocal: options.removeLocal === true,
      manifest,
    };
  } catch (error) {
    throw vaultFailure(error, `vault ${path} to`, where);
  }
}
