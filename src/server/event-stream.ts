/**
 * Server-sent events (GET /events): a text/event-stream of session events, for every session or
 * for one (`?session=ID`). Each event is
 *
 *     event: state|progress|end
 *     id: <sequence number of this stream>
 *     data: {"kind":...,"session":{...SessionInfo}}
 *
 * A stream starts with one `state` event per selected session (its current state), so a client
 * never misses where things stand. A one-session stream ends after that session's `end` event
 * (at once, if the session had already finished). A comment line is sent every
 * SSE_HEARTBEAT_MS so proxies and clients see the connection alive.
 *
 * Invariants: at most MAX_EVENT_STREAMS streams are open; a client that lets more than
 * MAX_STREAM_BUFFER_BYTES pile up unread is dropped, so a slow reader costs bounded memory.
 */
import type { ServerResponse } from 'node:http';
import { FINAL_STATES } from '../session/session-state.js';
import { ControlError } from './control-error.js';
import type { SessionEvent } from '../control-api/control-api-types.js';
import type { SessionRegistry } from './session-registry.js';

export const MAX_EVENT_STREAMS = 32;
/** Keep-alive comment interval: below common 30-60 s idle timeouts. */
export const SSE_HEARTBEAT_MS = 15_000;
/** Unread bytes a stream may hold: some thousand progress events. */
export const MAX_STREAM_BUFFER_BYTES = 1024 * 1024;

export class EventStreams {
  // Set once.
  private readonly registry: SessionRegistry;
  // Main thread only.
  private readonly open = new Set<ServerResponse>();

  constructor(registry: SessionRegistry) {
    this.registry = registry;
  }

  get count(): number {
    return this.open.size;
  }

  /** Answers GET /events on `response`; `sessionId` selects one session. */
  serve(response: ServerResponse, sessionId: string | undefined): void {
    if (this.open.size >= MAX_EVENT_STREAMS) {
      throw new ControlError('TOO_MANY', `Cannot open an event stream: ${MAX_EVENT_STREAMS} are open`, { limit: MAX_EVENT_STREAMS });
    }
    const only = sessionId === undefined ? undefined : this.registry.get(sessionId);
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    response.flushHeaders();
    this.open.add(response);
    let sequence = 0;
    const send = (event: SessionEvent): void => {
      sequence += 1;
      response.write(`event: ${event.kind}\nid: ${sequence}\ndata: ${JSON.stringify(event)}\n\n`);
      if (response.writableLength > MAX_STREAM_BUFFER_BYTES) response.destroy();
    };
    for (const session of only ? [only] : this.registry.list()) send({ kind: 'state', session: session.info() });
    let unsubscribe: () => void;
    if (only && FINAL_STATES.has(only.state)) {
      // Settled already, or about to: `settled` resolves once the final record is in place.
      unsubscribe = () => undefined;
      void only.settled.then(() => {
        send({ kind: 'end', session: only.info() });
        response.end();
      });
    } else if (only) {
      unsubscribe = only.onEvent((event) => {
        send(event);
        if (event.kind === 'end') response.end();
      });
    } else {
      unsubscribe = this.registry.subscribe(send);
    }
    const heartbeat = setInterval(() => response.write(': keep-alive\n\n'), SSE_HEARTBEAT_MS);
    response.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      this.open.delete(response);
    });
  }

  /** Ends every open stream (server shutdown). */
  closeAll(): void {
    for (const response of this.open) response.end();
  }
}
