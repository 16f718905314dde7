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
}

export function rawRequest(target: RawTarget, method: string, path: string, options: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try { body = JSON.parse(text); } catch { body = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end(options.body);
  });
}
