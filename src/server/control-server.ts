/**
 * The control API: JSON over HTTP (node:http) on a unix socket or a loopback TCP port. The routes
 * are one table (native-layout/control-api.md documents each):
 *
 *   GET  /volumes                         served volumes
 *   POST /volumes/:name/(split|rejoin)    a mirror secondary split from its own side, and its end
 *   GET  /sessions                        every kept session
 *   POST /sessions                        start a session (201, the session)
 *   GET  /sessions/:id                    one session: state, progress, summary or error
 *   POST /sessions/:id/(pause|resume|cancel)
 *   POST /sessions/:id/(precopy|activate|terminate|split|rejoin|remove)
 *                                         a technique's own commands (a clone's, a mirror's; the
 *                                         body, if any, holds the arguments: {"mirror"?: "M2"})
 *   GET  /events[?session=ID]             server-sent events
 *   GET  /sessions/:id/map[?mirror=M2]    the session's track map now (its view());
 *                                         gzip when the client accepts it (compressed-json.ts)
 *   GET  /, /live.js, /live.css, /favicon.ico  the live page (src/live/live-page-assets.ts)
 *
 * Authentication: a TCP listener requires `Authorization: Bearer <token>` on every request (401
 * otherwise, and the connection is closed); a unix socket needs none, its file is mode 0600 so only
 * the owner can connect. A connection takes a slot only with its first request that may be served
 * (on TCP, one that shows the token); until then it waits in a small pool of its own with a short
 * deadline, the one longest there dropped first, and a full set of slots gives way to a request by
 * dropping the connection idle longest (control-connections.ts). So clients without the token, or
 * a local process that opens and closes connections or holds idle ones, cannot lock out others.
 * The live page's three static files are the exception: they hold no data and no secret, so they
 * are served without a token; the page takes the token from its URL fragment (`/#token=T`, never
 * sent to the server) and sends it as a bearer token on every API call it makes.
 *
 * Invariants: every failure is a JSON error body (control-error.ts), a malformed URL included (400);
 * request bodies are bounded (request-body.ts); `close()` stops accepting, ends event streams,
 * pending and idle connections (and the rest after CLOSE_GRACE_MS), removes the socket file, and
 * resolves once the listener is closed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { assert } from '../base/assert.js';
import { UsageError } from '../errors/snaptape-error.js';
import { listenOnUnixSocket, OWNER_SOCKET_MODE, removeSocketFile } from '../base/unix-socket-file.js';
import { ControlError, apiFailureFor } from './control-error.js';
import { ControlConnections, MAX_CONTROL_CONNECTIONS } from './control-connections.js';
import { EventStreams, MAX_EVENT_STREAMS } from './event-stream.js';
import { readJsonBody, type JsonObject } from './request-body.js';
import type { SessionArgs } from '../session/session.js';
import { sendJsonCompressible } from './compressed-json.js';
import { SESSION_COMMANDS, type VolumeInfo } from '../control-api/control-api-types.js';
import { MAX_EVENT_SUBSCRIBERS, type SessionRegistry } from './session-registry.js';
import type { ServedVolume, ServedVolumes } from './served-volumes.js';
import type { SecondarySplits } from './secondary-splits.js';
import type { ControlAddress } from './listen-address.js';
import { LIVE_PAGE_ASSETS } from '../live/live-page-assets.js';
import { withWritesLanded } from '../volume/deferred-writes.js';

assert(MAX_EVENT_STREAMS < MAX_EVENT_SUBSCRIBERS, 'every event stream can subscribe, with room for the server');

/** A request's headers and body must arrive within this time (slow-loris bound). */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Owner-only access to the unix socket: the socket is the credential. */
export const UNIX_SOCKET_MODE = OWNER_SOCKET_MODE;
/** How long close() lets admitted connections finish a request before it closes them. */
export const CLOSE_GRACE_MS = 1_000;

type RouteHandler = (request: IncomingMessage, response: ServerResponse, params: RouteParams) => Promise<void> | void;

interface RouteParams {
  readonly id: string;
  readonly query: URLSearchParams;
}

interface Route {
  readonly method: 'GET' | 'POST';
  readonly pattern: RegExp;
  readonly handle: RouteHandler;
}

export interface ControlServerOptions {
  readonly address: ControlAddress;
  readonly volumes: ServedVolumes;
  readonly registry: SessionRegistry;
  /** Required for TCP, ignored for a unix socket. */
  readonly token?: string;
  /** Splits from the secondary's side (POST /volumes/:name/split|rejoin); without it those routes are 404. */
  readonly secondarySplits?: SecondarySplits;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sendAsset(response: ServerResponse, asset: { readonly contentType: string; readonly body: string }): void {
  response.writeHead(200, { 'content-type': asset.contentType, 'content-length': Buffer.byteLength(asset.body), 'cache-control': 'no-cache' });
  response.end(asset.body);
}

export class ControlServer {
  // Set once.
  private readonly options: ControlServerOptions;
  private readonly server: Server;
  private readonly streams: EventStreams;
  private readonly routes: readonly Route[];
  private readonly tokenBytes: Buffer | undefined;
  private readonly connections: ControlConnections;
  // Main thread only.
  private listening = false;

  constructor(options: ControlServerOptions) {
    if (options.address.kind === 'tcp') assert(options.token !== undefined && options.token.length > 0, 'a TCP control listener has a token');
    this.options = options;
    this.tokenBytes = options.address.kind === 'tcp' ? Buffer.from(options.token ?? '', 'utf8') : undefined;
    this.streams = new EventStreams(options.registry);
    this.server = createServer((request, response) => void this.handle(request, response));
    this.connections = new ControlConnections();
    this.server.on('connection', (socket: Socket) => this.connections.accept(socket));
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.headersTimeout = REQUEST_TIMEOUT_MS;
    this.routes = this.makeRoutes();
  }

  private makeRoutes(): Route[] {
    const { volumes, registry } = this.options;
    return [
      { method: 'GET', pattern: /^\/volumes$/, handle: (_q, r) => sendJson(r, 200, { volumes: volumes.list().map((v) => this.describeVolume(v)) }) },
      ...this.secondarySplitRoutes(),
      { method: 'GET', pattern: /^\/sessions$/, handle: (_q, r) => sendJson(r, 200, { sessions: registry.list().map((s) => s.info()) }) },
      {
        method: 'POST',
        pattern: /^\/sessions$/,
        handle: async (q, r) => {
          const body = await readJsonBody(q);
          // A session joins a volume's chain only once no NBD write that passed it before is still landing.
          const started = await withWritesLanded(
            volumes.list().map((v) => v.volume),
            () => registry.start(body),
          );
          sendJson(r, 201, started.info());
        },
      },
      { method: 'GET', pattern: /^\/sessions\/(?<id>[^/]+)$/, handle: (_q, r, p) => sendJson(r, 200, registry.get(p.id).info()) },
      { method: 'POST', pattern: /^\/sessions\/(?<id>[^/]+)\/pause$/, handle: (_q, r, p) => this.verb(r, p.id, 'pause') },
      { method: 'POST', pattern: /^\/sessions\/(?<id>[^/]+)\/resume$/, handle: (_q, r, p) => this.verb(r, p.id, 'resume') },
      { method: 'POST', pattern: /^\/sessions\/(?<id>[^/]+)\/cancel$/, handle: (_q, r, p) => this.verb(r, p.id, 'cancel') },
      { method: 'POST', pattern: new RegExp(`^/sessions/(?<id>[^/]+)/(?:${SESSION_COMMANDS.join('|')})$`), handle: (q, r, p) => this.command(q, r, p.id) },
      { method: 'GET', pattern: /^\/events$/, handle: (_q, r, p) => this.streams.serve(r, p.query.get('session') ?? undefined) },
      { method: 'GET', pattern: /^\/sessions\/(?<id>[^/]+)\/map$/, handle: (q, r, p) => this.trackMap(q, r, p) },
      ...LIVE_PAGE_ASSETS.map((asset): Route => ({ method: 'GET', pattern: asset.pattern, handle: (_q, r) => sendAsset(r, asset) })),
    ];
  }

  /** A served volume as GET /volumes lists it, with its secondary-side split if it has one. */
  private describeVolume(served: ServedVolume): VolumeInfo {
    const splitAt = this.options.secondarySplits?.info(served.name).splitAt ?? null;
    return { ...this.options.volumes.describe(served), ...(splitAt !== null ? { secondarySplitAt: splitAt } : {}) };
  }

  /** POST /volumes/:name/split and /rejoin: a mirror split from the secondary's side (secondary-splits.ts). */
  private secondarySplitRoutes(): Route[] {
    const splits = this.options.secondarySplits;
    if (splits === undefined) return [];
    return [
      {
        method: 'POST',
        pattern: /^\/volumes\/(?<id>[^/]+)\/split$/,
        handle: async (_q, r, p) => {
          const info = splits.split(p.id);
          // The hold refuses new writes; those the export took before it land before the split is answered.
          await this.options.volumes.get(p.id).volume.writesLanded();
          sendJson(r, 200, info);
        },
      },
      { method: 'POST', pattern: /^\/volumes\/(?<id>[^/]+)\/rejoin$/, handle: (_q, r, p) => sendJson(r, 200, splits.rejoin(p.id)) },
    ];
  }

  private async trackMap(request: IncomingMessage, response: ServerResponse, params: RouteParams): Promise<void> {
    const session = this.options.registry.get(params.id);
    const mirror = params.query.get('mirror') ?? undefined;
    await sendJsonCompressible(request, response, 200, session.trackMap(mirror === undefined ? {} : { mirror }));
  }

  private verb(response: ServerResponse, id: string, verb: 'pause' | 'resume' | 'cancel'): void {
    const session = this.options.registry.get(id);
    session[verb]();
    sendJson(response, 200, session.info());
  }

  /** A technique's own command (a clone's activate, a mirror's split), its body the arguments if it has one. */
  private async command(request: IncomingMessage, response: ServerResponse, id: string): Promise<void> {
    const session = this.options.registry.get(id);
    const name = SESSION_COMMANDS.find((c) => new URL(request.url ?? '', 'http://control').pathname.endsWith(`/${c}`));
    assert(name !== undefined, 'the route matched a known command');
    const body = hasBody(request) ? await readJsonBody(request) : {};
    session.command(name, commandArgs(body));
    sendJson(response, 200, session.info());
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // Once the request has all arrived and until its answer (or event stream) ends, the connection
    // is at work: never the one dropped. One whose body stalls waits for its client, and may be.
    response.once(
      'close',
      this.connections.requestStarted(request.socket, () => request.complete),
    );
    try {
      const url = parseRequestUrl(request.url);
      if (this.authenticate(request, url.pathname)) this.admit(request);
      const matching = this.routes.filter((route) => route.pattern.test(url.pathname));
      if (matching.length === 0) throw new ControlError('NOT_FOUND', `Cannot find ${url.pathname}: no such endpoint`, { path: url.pathname });
      const route = matching.find((r) => r.method === request.method);
      if (!route) {
        response.setHeader('allow', matching.map((r) => r.method).join(', '));
        throw new ControlError('METHOD_NOT_ALLOWED', `Cannot ${request.method ?? '?'} ${url.pathname}: use ${matching.map((r) => r.method).join(' or ')}`, {
          path: url.pathname,
        });
      }
      const id = decodePathPart(route.pattern.exec(url.pathname)?.groups?.['id'] ?? '');
      await route.handle(request, response, { id, query: url.searchParams });
    } catch (error) {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      const failure = apiFailureFor(error);
      if (failure.status === 401) response.setHeader('www-authenticate', 'Bearer realm="snaptape"');
      // The rest of an oversized or unread body is not worth reading, and a connection that has
      // not shown the token keeps no slot: close after answering.
      if (!request.complete || !this.connections.isAdmitted(request.socket)) response.setHeader('connection', 'close');
      sendJson(response, failure.status, failure.body);
    }
  }

  /**
   * Refuses a request without the valid token; returns whether the request showed a credential
   * (false for the live page's assets, which need none, so their connection stays pending).
   */
  private authenticate(request: IncomingMessage, pathname: string): boolean {
    if (this.tokenBytes === undefined) return true;
    if (request.method === 'GET' && LIVE_PAGE_ASSETS.some((a) => a.path === pathname)) return false;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer (\S+)$/.exec(header);
    const given = Buffer.from(match?.[1] ?? '', 'utf8');
    if (given.length !== this.tokenBytes.length || !timingSafeEqual(given, this.tokenBytes)) {
      throw new ControlError('UNAUTHORIZED', 'Cannot accept the request: it has no valid bearer token (Authorization: Bearer <token>)');
    }
    return true;
  }

  /** Moves the request's connection into an admitted slot; 429 when all are taken. */
  private admit(request: IncomingMessage): void {
    if (this.connections.admit(request.socket)) return;
    throw new ControlError('TOO_MANY', `Cannot accept the request: ${MAX_CONTROL_CONNECTIONS} control connections are open`, {
      limit: MAX_CONTROL_CONNECTIONS,
    });
  }

  async listen(): Promise<ControlAddress> {
    assert(!this.listening, 'listen is called once');
    const { address } = this.options;
    const bound = await new Promise<ControlAddress>((resolve, reject) => {
      const onError = (error: Error): void => reject(new UsageError(`Cannot listen for control on ${describe(address)}: ${error.message}`, {}));
      if (address.kind === 'unix') {
        listenOnUnixSocket(this.server, address.path).then(
          () => resolve(address),
          (error: unknown) => {
            if (error instanceof UsageError) reject(error);
            else onError(error instanceof Error ? error : new Error(String(error)));
          },
        );
        return;
      }
      this.server.once('error', onError);
      this.server.listen({ host: address.host, port: address.port }, () => {
        this.server.off('error', onError);
        const info = this.server.address();
        resolve(info !== null && typeof info === 'object' ? { kind: 'tcp', host: address.host, port: info.port } : address);
      });
    });
    this.listening = true;
    return bound;
  }

  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.streams.closeAll();
    this.connections.dropPending();
    this.server.closeIdleConnections();
    const grace = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
    await closed;
    clearTimeout(grace);
    const { address } = this.options;
    if (address.kind === 'unix') removeSocketFile(address.path);
  }
}

/** Whether the request carries a body (a command without arguments may send none). */
function hasBody(request: IncomingMessage): boolean {
  return request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
}

/** A command's arguments: the body's fields, each a plain value. */
function commandArgs(body: JsonObject): SessionArgs {
  const args: Record<string, string | number | boolean> = {};
  for (const [name, value] of Object.entries(body)) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ControlError('BAD_REQUEST', `Cannot use field "${name}": a command's arguments are strings, numbers or booleans`, { field: name });
    }
    args[name] = value;
  }
  return args;
}

/** The request's URL; a target that is not a URL is the client's error (400), not ours. */
function parseRequestUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://control');
  } catch {
    throw new ControlError('BAD_REQUEST', `Cannot read the request: its target is not a valid URL path`, {});
  }
}

/** A percent-decoded path part (a session id); bad percent-encoding ("%", "%zz") is a 400. */
function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ControlError('BAD_REQUEST', `Cannot read the URL: "${part}" has bad percent-encoding`, { path: part });
  }
}

function describe(address: ControlAddress): string {
  return address.kind === 'unix' ? address.path : `${address.host}:${address.port}`;
}
