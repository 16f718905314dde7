/**
 * Where a vaulted cartridge lives: `s3://bucket/prefix`. The cartridge is the object
 * `<prefix>/<volser>.aws` and its manifest `<prefix>/<volser>.manifest.json`.
 */
import { UsageError } from '../errors/snaptape-error.js';

export interface S3Location {
  readonly bucket: string;
  /** Key prefix without leading or trailing slashes; '' for the bucket's root. */
  readonly prefix: string;
}

/** S3's bucket naming rules (lowercase letters, digits, dots and hyphens, 3 to 63 characters). */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (match === null) throw new UsageError(`Cannot use vault ${url}: give s3://bucket or s3://bucket/prefix`, { url });
  const bucket = match[1] as string;
  if (!BUCKET_NAME.test(bucket)) throw new UsageError(`Cannot use vault ${url}: ${bucket} is not a valid S3 bucket name`, { url });
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '..' || part === '.'))
    throw new UsageError(`Cannot use vault ${url}: the prefix may not hold . or ..`, { url });
  return { bucket, prefix };
}

export function s3Url(location: S3Location): string {
  return location.prefix === '' ? `s3://${location.bucket}` : `s3://${location.bucket}/${location.prefix}`;
}

function keyOf(location: S3Location, name: string): string {
  return location.prefix === '' ? name : `${location.prefix}/${name}`;
}

/** The object that holds the cartridge's bytes. */
export function cartridgeKey(location: S3Location, volser: string): string {
  return keyOf(location, `${volser}.aws`);
}

/** The object that holds the cartridge's manifest (labels, digests, block index). */
export function manifestKey(location: S3Location, volser: string): string {
  return keyOf(location, `${volser}.manifest.json`);
}
