/**
 * One clear line for an S3 failure: the SDK's error name (InvalidAccessKeyId, NoSuchBucket,
 * AccessDenied…) or the network's (ECONNREFUSED…), what was being done, and where.
 */
import { VaultError } from '../errors/snaptape-error.js';

export function vaultFailure(cause: unknown, action: string, where: string): VaultError {
  if (cause instanceof VaultError) return cause;
  const error = cause instanceof Error ? cause : new Error(String(cause));
  const code = (error as { code?: unknown }).code;
  const name = typeof code === 'string' ? code : error.name;
  // The SDK's message for a refused connection is empty; the system error's code names it.
  const detail = error.message !== '' && error.message !== name ? `${name}: ${error.message}` : name;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return new VaultError(`Cannot ${action} ${where}: ${detail.split('\n')[0]}${status === undefined ? '' : ` (HTTP ${status})`}`, { object: where }, { cause });
}
