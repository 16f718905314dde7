/**
 * What `snaptape serve` logs of its NBD server's events (the server itself does not log): exports
 * and requests refused, requests the backend failed and clients that broke the protocol, each with the
 * connection, export and command it is about. A client may send refused requests without end (and
 * a handshake up to MAX_OPTIONS_PER_HANDSHAKE options, each asking for an export it is refused), so
 * each connection's are logged up to REQUEST_LINES_PER_CONNECTION, and the rest counted in one line
 * at its close: the log stays bounded by the connections, not the requests.
 */
import { LOG_EVENTS, type EventLogger } from '../base/log.js';
import { nbdErrnoName } from '../export/nbd-backend.js';
import { nbdCommandName } from '../export/nbd-constants.js';
import type { NbdServer } from '../export/nbd-server.js';

/** Refused or failed requests (and exports refused at the handshake) logged per connection; the rest are counted at its close. */
export const REQUEST_LINES_PER_CONNECTION = 20;

/**
 * Logs what the NBD server reports: an export it refused, a request it refused (a write to a
 * read-only export, a range past the end), one the backend failed and a client that broke the
 * protocol, at warn (a backend bug at error), so that an operator learns who was refused and why;
 * each connection's opening, export and close at debug.
 */
export function logNbdEvents(nbd: NbdServer, log: EventLogger): void {
  // Main thread only: refused or failed requests seen per open connection.
  const requestLines = new Map<number, number>();
  /** Whether one more refused or failed request of `connectionId` is logged (else it is counted). */
  const logsRequest = (connectionId: number): boolean => {
    const seen = (requestLines.get(connectionId) ?? 0) + 1;
    requestLines.set(connectionId, seen);
    return seen <= REQUEST_LINES_PER_CONNECTION;
  };
  nbd.onEvent((event) => {
    switch (event.kind) {
      case 'connection-opened':
        log(LOG_EVENTS.nbdConnection, { connection: event.connectionId, state: 'opened', remote: event.remoteAddress }, 'debug');
        break;
      case 'export-selected':
        log(LOG_EVENTS.nbdConnection, { connection: event.connectionId, state: 'export', export: event.exportName }, 'debug');
        break;
      case 'connection-closed': {
        const unlogged = (requestLines.get(event.connectionId) ?? 0) - REQUEST_LINES_PER_CONNECTION;
        requestLines.delete(event.connectionId);
        if (unlogged > 0) log(LOG_EVENTS.nbdRequestsUnlogged, { connection: event.connectionId, requests: unlogged }, 'warn');
        log(LOG_EVENTS.nbdConnection, { connection: event.connectionId, state: 'closed', reason: event.reason }, 'debug');
        break;
      }
      case 'export-refused':
        if (!logsRequest(event.connectionId)) break;
        log(LOG_EVENTS.nbdExportRefused, { connection: event.connectionId, export: event.exportName, reason: event.reason }, 'warn');
        break;
      case 'connection-refused':
        log(LOG_EVENTS.nbdRefused, { remote: event.remoteAddress, reason: event.reason }, 'warn');
        break;
      case 'protocol-error':
        log(LOG_EVENTS.nbdProtocolError, { connection: event.connectionId, reason: event.error.message }, 'warn');
        break;
      case 'request-refused':
        if (!logsRequest(event.connectionId)) break;
        log(LOG_EVENTS.nbdRequestRefused, { ...requestFields(event), reason: event.reason }, 'warn');
        break;
      case 'backend-error':
        if (!logsRequest(event.connectionId)) break;
        log(
          LOG_EVENTS.nbdBackendError,
          { ...requestFields(event), reason: event.error instanceof Error ? event.error.message : String(event.error) },
          event.internal ? 'error' : 'warn',
        );
        break;
    }
  });
}

/** The fields that say which request of which connection an event is about. */
function requestFields(event: {
  readonly connectionId: number;
  readonly exportName: string;
  readonly command: number;
  readonly errno: number;
}): Record<string, unknown> {
  return {
    connection: event.connectionId,
    export: event.exportName,
    command: nbdCommandName(event.command),
    errno: nbdErrnoName(event.errno),
  };
}
