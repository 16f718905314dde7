/**
 * The S3 client of the vault, configured the way every AWS tool is: credentials from the SDK's
 * default chain (environment, shared profile, instance role), the region from AWS_REGION (or
 * AWS_DEFAULT_REGION, else us-east-1) and the endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL.
 * With an endpoint of its own (Ceph RGW, MinIO, Garage) the bucket goes in the path, as those
 * servers expect without wildcard DNS.
 */
import type * as S3Sdk from '@aws-sdk/client-s3';
import type * as S3Uploads from '@aws-sdk/lib-storage';

let sdk: Promise<typeof S3Sdk> | undefined;
let uploads: Promise<typeof S3Uploads> | undefined;

/**
 * The SDK's S3 module, imported on first use: loading it takes about 0.3 s on a 2-core machine
 * (bench/RESULTS.md section 1b), which every command paid at its start while only the vault uses it.
 */
export function loadS3Sdk(): Promise<typeof S3Sdk> {
  return (sdk ??= import('@aws-sdk/client-s3'));
}

/** The SDK's multipart upload, imported on first use as loadS3Sdk. */
export function loadS3Uploads(): Promise<typeof S3Uploads> {
  return (uploads ??= import('@aws-sdk/lib-storage'));
}

export interface VaultClientOptions {
  /** Overrides AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. */
  readonly endpoint?: string;
  /** Attempts per request (the SDK's retries with backoff); 3 unless given. */
  readonly maxAttempts?: number;
}

export async function createVaultClient(options: VaultClientOptions = {}): Promise<S3Sdk.S3Client> {
  // The SDK warns on stderr that its releases after January 2027 need Node 22; the release locked
  // here supports Node 20, and a warning in the middle of a command's one-line output misleads.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const { S3Client } = await loadS3Sdk();
  return new S3Client({
    region,
    maxAttempts: options.maxAttempts ?? 3,
    ...(endpoint === undefined || endpoint === '' ? {} : { endpoint, forcePathStyle: true }),
  });
}
