/**
 * A raw HTTP request to a control API (unix socket or TCP), for tests that check status codes and
 * error bodies the typed client turns into exceptions.
 */
import { request } from 'node:http';

export interface RawTarget {
  readonly socketPath?: string;
  readonly host?: string;
  readonly port?: number;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: unknown;
  readonly text: string;
  /** The body as received (still compressed when the server sent Content-Encoding). */
  readonly bytes: Buffer;
}

export function rawRequest(
  target: RawTarget,
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const text = bytes.toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, bytes });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end(options.body);
  });
}
