/**
 * A client for the control API of `snaptape serve` (native-layout/control-api.md): over the
 * server's unix socket, or over loopback TCP with the bearer token. The CLI uses it for
 * `--server`; tests use it to steer a server child process.
 *
 * Failures are SnaptapeErrors, so the CLI's one map from code to exit status applies:
 * - an API error whose code is a library code (SESSION, TARGET_EXISTS, ...) comes back as that class;
 * - the API's own codes (UNKNOWN_SESSION, BAD_REQUEST, UNAUTHORIZED, ...) come back as UsageError,
 *   TOO_MANY and SHUTTING_DOWN as SessionError; `details.apiCode` keeps the API's code;
 * - a server that cannot be reached is an IoError naming the address. A unix socket whose connection
 *   queue is full (connect fails with EAGAIN: another process floods it) is connected to again, for
 *   up to the request timeout: nothing was sent yet. So is a request whose kept-alive connection
 *   the server closed as idle as it went out (reset before any answer): nothing of it was read.
 * Requests (not the event stream) say `Accept-Encoding: gzip`; a gzip answer (a track map) is
 * decompressed here, and the size limit applies to the decompressed bytes.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { ERROR_CODES, IoError, SessionError, UsageError, errorFromData, type ErrorCode, type SnaptapeError } from '../errors/snaptape-error.js';
import { FINAL_STATES } from '../session/session-state.js';
import type {
  ApiErrorBody,
  SecondarySplitInfo,
  SessionCommand,
  SessionEvent,
  SessionInfo,
  StartSessionRequest,
  VolumeInfo,
} from '../control-api/control-api-types.js';
import type { TrackMapSnapshot } from '../session/session-view.js';

/**
 * Largest response body read (after decompression): 256 session records with their summaries, or
 * the track map of a 3390-54 (one character per track, about 1 MB), fit well below 16 MiB.
 */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** Largest single server-sent event: one SessionInfo. */
export const MAX_EVENT_BYTES = 1024 * 1024;
/** Default time a request may take before the client gives up. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Longest wait between two connects to a server whose connection queue is full. */
export const CONNECT_RETRY_MAX_WAIT_MS = 50;

/**
 * Failures worth trying again, nothing of the request having been read: a connect refused because
 * the server's connection queue was full, or a kept-alive connection the server closed as idle
 * just as the request went out on it.
 */
const retryableErrors = new WeakSet<Error>();

/** Environment variable with the bearer token for a TCP control address. */
export const CONTROL_TOKEN_ENV = 'SNAPTAPE_TOKEN';

export type ControlEndpoint =
  { readonly kind: 'unix'; readonly socketPath: string } | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly token: string };

/** `HOST:PORT` is TCP (token from the argument or $SNAPTAPE_TOKEN); anything else is a socket path. */
export function parseControlEndpoint(spec: string, token?: string): ControlEndpoint {
  const match = /^(\[[0-9a-fA-F:]+\]|[^/:]*):(\d{1,5})$/.exec(spec);
  if (!match) return { kind: 'unix', socketPath: spec };
  const host = (match[1] ?? '').replace(/^\[|\]$/g, '') || '127.0.0.1';
  const bearer = token ?? process.env[CONTROL_TOKEN_ENV] ?? '';
  if (bearer.length === 0)
    throw new UsageError(`Cannot reach the server at ${spec}: a TCP control address needs a token (set ${CONTROL_TOKEN_ENV})`, { server: spec });
  return { kind: 'tcp', host, port: Number(match[2]), token: bearer };
}

const LIBRARY_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

function errorFromApi(status: number, body: unknown): SnaptapeError {
  const error = (body as Partial<ApiErrorBody> | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : 'INTERNAL';
  const message = typeof error?.message === 'string' ? error.message : `Cannot complete the request: the server answered HTTP ${status}`;
  if (LIBRARY_CODES.has(code)) return errorFromData({ code: code as ErrorCode, message, details: { ...(error?.details ?? {}), httpStatus: status } });
  const details = { apiCode: code, httpStatus: status };
  if (code === 'TOO_MANY' || code === 'SHUTTING_DOWN') return new SessionError(message, details);
  if (code === 'INTERNAL') return new IoError(message, details);
  return new UsageError(message, details);
}

export interface EventSubscription {
  close(): void;
  /** Resolves when the stream ends (the server closed it, or `close()` was called). */
  readonly ended: Promise<void>;
}

/** A client of a running `snaptape serve` control API (JSON over HTTP, on a Unix socket or TCP with a token). Each call rejects with the server's typed error (errorFromData), or IoError when the server cannot be reached. */
export class ControlClient {
  // Set once.
  readonly endpoint: ControlEndpoint;
  private readonly timeoutMs: number;

  constructor(endpoint: ControlEndpoint, options: { timeoutMs?: number } = {}) {
    this.endpoint = endpoint;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  get address(): string {
    return this.endpoint.kind === 'unix' ? this.endpoint.socketPath : `${this.endpoint.host}:${this.endpoint.port}`;
  }

  /** The volumes the server serves. */
  async listVolumes(): Promise<VolumeInfo[]> {
    return (await this.call<{ volumes: VolumeInfo[] }>('GET', '/volumes')).volumes;
  }

  /** The sessions of the server (backups, clones, mirrors), running or ended. */
  async listSessions(): Promise<SessionInfo[]> {
    return (await this.call<{ sessions: SessionInfo[] }>('GET', '/sessions')).sessions;
  }

  /** Starts a session (a backup, clone or mirror) on the server. */
  startSession(request: StartSessionRequest): Promise<SessionInfo> {
    return this.call<SessionInfo>('POST', '/sessions', request);
  }

  /** One session by id. Rejects with SessionError for an unknown id. */
  getSession(id: string): Promise<SessionInfo> {
    return this.call<SessionInfo>('GET', `/sessions/${encodeURIComponent(id)}`);
  }

  /** Pauses a session. Rejects with SessionError for an unknown id or one that cannot pause. */
  pause(id: string): Promise<SessionInfo> {
    return this.call<SessionInfo>('POST', `/sessions/${encodeURIComponent(id)}/pause`);
  }

  /** Resumes a paused session. Rejects with SessionError for an unknown id or one not paused. */
  resume(id: string): Promise<SessionInfo> {
    return this.call<SessionInfo>('POST', `/sessions/${encodeURIComponent(id)}/resume`);
  }

  /** Cancels a session. Rejects with SessionError for an unknown id. */
  cancel(id: string): Promise<SessionInfo> {
    return this.call<SessionInfo>('POST', `/sessions/${encodeURIComponent(id)}/cancel`);
  }

  /** A technique's own command: a clone's `precopy`, `activate` or `terminate`, a mirror's `split`, `rejoin` or `remove`. */
  command(id: string, command: SessionCommand): Promise<SessionInfo> {
    return this.call<SessionInfo>('POST', `/sessions/${encodeURIComponent(id)}/${command}`);
  }

  /**
   * The session's track map now (backup, clone, mirror; the final one once settled). For a mirror,
   * `mirror` (M2..M4) chooses the secondary; the server picks the one being copied otherwise.
   */
  trackMap(id: string, options: { mirror?: string } = {}): Promise<TrackMapSnapshot> {
    const query = options.mirror === undefined ? '' : `?mirror=${encodeURIComponent(options.mirror)}`;
    return this.call<TrackMapSnapshot>('GET', `/sessions/${encodeURIComponent(id)}/map${query}`);
  }

  /** Mirror sessions: splits one mirror (M2..M4) or all of them. */
  splitMirror(id: string, mirror?: string): Promise<SessionInfo> {
    return this.call<SessionInfo>('POST', `/sessions/${encodeURIComponent(id)}/split`, mirror === undefined ? {} : { mirror });
  }

  /** Mirror sessions: rejoins one mirror or all of them (resync of the tracks written since the split). */
  rejoinMirror(id: string, mirror?: string): Promise<SessionInfo> {
    return this.call<SessionInfo>('POST', `/sessions/${encodeURIComponent(id)}/rejoin`, mirror === undefined ? {} : { mirror });
  }

  /**
   * On the server of a remote mirror secondary: splits the served volume `volume` from the
   * secondary's side (its export refuses the mirror's writes from this instant; the primary puts
   * the mirror into backup mode). Rejects with SessionError when it is split already.
   */
  splitSecondary(volume: string): Promise<SecondarySplitInfo> {
    return this.call<SecondarySplitInfo>('POST', `/volumes/${encodeURIComponent(volume)}/split`, {});
  }

  /** Ends a split taken with `splitSecondary`: the export takes the mirror's writes again and the primary rejoins. */
  rejoinSecondary(volume: string): Promise<SecondarySplitInfo> {
    return this.call<SecondarySplitInfo>('POST', `/volumes/${encodeURIComponent(volume)}/rejoin`, {});
  }

  /** Mirror sessions: stops mirroring and deletes the state file. */
  removeMirror(id: string): Promise<SessionInfo> {
    return this.call<SessionInfo>('POST', `/sessions/${encodeURIComponent(id)}/remove`, {});
  }

  /**
   * Waits for a session to reach a final state, calling `onProgress` for each event on the way
   * (the server-sent event stream of that session). Resolves with the final record; a failed or
   * cancelled session resolves too: look at `state` and `error`.
   */
  async waitForSession(id: string, onProgress?: (session: SessionInfo) => void): Promise<SessionInfo> {
    let last: SessionInfo | undefined;
    const subscription = await this.events({ session: id }, (event) => {
      last = event.session;
      if (event.kind !== 'end') onProgress?.(event.session);
    });
    await subscription.ended;
    if (last !== undefined && last.finishedAt !== null) return last;
    // The stream ended without an end event (the server is going away): ask once more.
    const now = await this.getSession(id);
    if (FINAL_STATES.has(now.state)) return now;
    throw new SessionError(`Cannot wait for session ${id}: the server at ${this.address} closed the event stream while it was ${now.state}`, { session: id });
  }

  /** Opens the server-sent event stream (all sessions, or one). */
  events(options: { session?: string }, onEvent: (event: SessionEvent) => void): Promise<EventSubscription> {
    const path = options.session === undefined ? '/events' : `/events?session=${encodeURIComponent(options.session)}`;
    return this.connectingAgain(() => this.eventsOnce(path, onEvent));
  }

  private eventsOnce(path: string, onEvent: (event: SessionEvent) => void): Promise<EventSubscription> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(this.requestOptions('GET', path), (response) => {
        if (response.statusCode !== 200) {
          void readBody(response).then((body) => reject(errorFromApi(response.statusCode ?? 0, parseJson(body))), reject);
          return;
        }
        const ended = new Promise<void>((done) => {
          response.on('end', done);
          response.on('close', done);
          response.on('error', () => done());
        });
        parseEventStream(response, onEvent);
        resolve({ close: () => request.destroy(), ended });
      });
      this.rejectUnreached(request, reject);
      request.end();
    });
  }

  private requestOptions(method: string, path: string, options: { bodyBytes?: number; gzip?: boolean } = {}): RequestOptions {
    const { bodyBytes } = options;
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (options.gzip === true) headers['accept-encoding'] = 'gzip';
    if (bodyBytes !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = bodyBytes;
    }
    if (this.endpoint.kind === 'tcp') headers['authorization'] = `Bearer ${this.endpoint.token}`;
    const base = this.endpoint.kind === 'unix' ? { socketPath: this.endpoint.socketPath } : { host: this.endpoint.host, port: this.endpoint.port };
    return { ...base, method, path, headers };
  }

  private call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    return this.connectingAgain(() => this.callOnce<T>(method, path, body));
  }

  /**
   * Runs `attempt` again while the server's connection queue is full (a unix socket's connect
   * fails with EAGAIN when its listen backlog is: another process may be flooding it with
   * connections), waiting 1, 2, 4 … up to CONNECT_RETRY_MAX_WAIT_MS between tries, for at most the
   * request timeout. Nothing was sent on a connection that was never made, so any request may be
   * tried again.
   */
  private async connectingAgain<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    for (let wait = 1; ; wait = Math.min(wait * 2, CONNECT_RETRY_MAX_WAIT_MS)) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof Error && retryableErrors.has(error)) || Date.now() + wait > deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private callOnce<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    return new Promise<T>((resolve, reject) => {
      const request = httpRequest(this.requestOptions(method, path, { bodyBytes: payload?.length, gzip: true }), (response) => {
        readBody(response).then((text) => {
          const parsed = parseJson(text);
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300 && parsed !== undefined) resolve(parsed as T);
          else reject(errorFromApi(status, parsed));
        }, reject);
      });
      request.setTimeout(this.timeoutMs, () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      this.rejectUnreached(request, reject);
      request.end(payload);
    });
  }

  /** Rejects with `unreachable` when `request` fails, telling it whether the failure may be retried. */
  private rejectUnreached(request: ClientRequest, reject: (error: Error) => void): void {
    let answered = false;
    request.once('response', () => (answered = true));
    request.on('error', (error) => reject(this.unreachable(error, request.reusedSocket && !answered)));
  }

  /**
   * The IoError for a request that got no answer. `reused`: it went out on a kept-alive connection
   * and no answer had begun: a reset there, or a write that found it closed (EPIPE: the close and
   * the request crossed), is the server closing that connection as idle (its keep-alive timeout,
   * or dropped as the connection idle longest to make room: one with a request in progress is never
   * dropped) before it read the request, which may then be sent again.
   */
  private unreachable(error: Error, reused = false): SnaptapeError {
    const { code, syscall } = error as NodeJS.ErrnoException;
    const queueFull = code === 'EAGAIN' && syscall === 'connect';
    const idleClosed = reused && (code === 'ECONNRESET' || code === 'EPIPE');
    const failure = new IoError(
      `Cannot reach the snaptape server at ${this.address}: ${error.message}${queueFull ? ' (its connection queue stayed full)' : ''}`,
      { server: this.address },
    );
    if (queueFull || idleClosed) retryableErrors.add(failure);
    return failure;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The body as text: gunzipped when the server sent gzip; refused past MAX_RESPONSE_BYTES decoded. */
function readBody(response: IncomingMessage): Promise<string> {
  const gzipped = response.headers['content-encoding'] === 'gzip';
  const source: Readable = gzipped ? response.pipe(createGunzip()) : response;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    source.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        response.destroy();
        source.destroy();
        reject(new IoError(`Cannot read the server's answer: it is larger than ${MAX_RESPONSE_BYTES} bytes`, {}));
        return;
      }
      chunks.push(chunk);
    });
    source.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    source.on('error', (error: Error) =>
      reject(gzipped ? new IoError(`Cannot read the server's answer: its gzip body does not decode (${error.message})`, {}) : error),
    );
    if (gzipped) response.on('error', reject);
  });
}

/** Splits a text/event-stream into events and hands each `data` (a SessionEvent) to `onEvent`. */
function parseEventStream(response: IncomingMessage, onEvent: (event: SessionEvent) => void): void {
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (text: string) => {
    buffer += text;
    // Bounded: each pass removes one complete event from the buffer.
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice('data: '.length))
        .join('\n');
      if (data.length === 0) continue;
      const event = parseJson(data) as SessionEvent | undefined;
      if (event !== undefined) onEvent(event);
    }
    if (buffer.length > MAX_EVENT_BYTES) response.destroy();
  });
}
