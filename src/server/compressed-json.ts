/**
 * A large JSON answer (a track map: one character per track, about 1 MB on a 3390-54), gzip-
 * compressed when the client says it takes gzip (`Accept-Encoding`, RFC 9110 section 12.5.3), with
 * node:zlib off the main thread (the thread that owns the volumes and runs host writes).
 *
 * Invariant: the answer is compressed only for a client that listed gzip (or `*`) with a non-zero
 * quality; it then carries `Content-Encoding: gzip`; every answer carries `Vary: Accept-Encoding`,
 * so a cache never hands the compressed form to a client that did not ask for it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { constants, gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/**
 * zlib level 1: a map is long runs of a few letters, so the fastest level already shrinks 1 MB to a
 * few KB; higher levels cost CPU on a 2-core machine for almost nothing.
 */
export const MAP_GZIP_LEVEL = constants.Z_BEST_SPEED;
/** Answers shorter than this are sent as they are: gzip's header and CPU cost more than they save. */
export const MIN_GZIP_BYTES = 1024;

/** True when the Accept-Encoding header lists gzip (or `*`) with a quality above 0. */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  let gzipQuality: number | undefined;
  let anyQuality: number | undefined;
  for (const part of text.split(',')) {
    const [name = '', ...params] = part
      .trim()
      .toLowerCase()
      .split(';')
      .map((p) => p.trim());
    const q = params.find((p) => p.startsWith('q='));
    const quality = q === undefined ? 1 : Number(q.slice(2));
    if (name === 'gzip' || name === 'x-gzip') gzipQuality = Number.isFinite(quality) ? quality : 0;
    else if (name === '*') anyQuality = Number.isFinite(quality) ? quality : 0;
  }
  return (gzipQuality ?? anyQuality ?? 0) > 0;
}

export async function sendJsonCompressible(request: IncomingMessage, response: ServerResponse, status: number, body: unknown): Promise<void> {
  const text = Buffer.from(`${JSON.stringify(body)}\n`, 'utf8');
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', vary: 'accept-encoding' };
  if (text.length >= MIN_GZIP_BYTES && acceptsGzip(request.headers['accept-encoding'])) {
    const compressed = await gzipAsync(text, { level: MAP_GZIP_LEVEL });
    response.writeHead(status, { ...headers, 'content-encoding': 'gzip', 'content-length': compressed.length });
    response.end(compressed);
    return;
  }
  response.writeHead(status, { ...headers, 'content-length': text.length });
  response.end(text);
}
