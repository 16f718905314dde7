/**
 * What `snaptape serve` logs of its NBD server's events (the server itself does not log): exports
 * and requests refused, requests the backend failed and clients that broke the protocol, each with the
 * connection, export and command it is about. A client may send refused requests without end (and
 * a handshake up to MAX_OPTIONS_PER_HANDSHAKE options, each asking for an export it is refused), so
 * each connection's are logged up to REQUEST_LINES_PER_CONNECTION, and the rest counted in one line
 * at its close. A client may also open connections without end, each refused or breaking the
 * protocol at once: all connections together log at most NBD_WARN_LINES_PER_WINDOW lines at warn or
 * error in a window of NBD_LOG_WINDOW_MS, and the rest are counted in one line, the next window's
 * first (or at the end of the log, when the server stops). So the log grows by a bounded number of
 * lines a minute, whatever clients do; lines at debug (each connection's opening and close) are
 * asked for by the operator and not bounded.
 */
import { LOG_EVENTS, type EventLogger, type LogEvent, type LogLevel } from '../base/log.js';
import { nbdErrnoName } from '../export/nbd-backend.js';
import { nbdCommandName } from '../export/nbd-constants.js';
import type { NbdServer } from '../export/nbd-server.js';

/** Refused or failed requests (and exports refused at the handshake) logged per connection; the rest are counted at its close. */
export const REQUEST_LINES_PER_CONNECTION = 20;
/** Lines at warn or error that all connections together may log in one window; the rest are counted. */
export const NBD_WARN_LINES_PER_WINDOW = 200;
export const NBD_LOG_WINDOW_MS = 60_000;

export interface NbdEventLogOptions {
  /** The clock of the windows (tests); Date.now by default. */
  readonly now?: () => number;
}

/**
 * Logs what the NBD server reports: an export it refused, a request it refused (a write to a
 * read-only export, a range past the end), one the backend failed and a client that broke the
 * protocol, at warn (a backend bug at error), so that an operator learns who was refused and why;
 * each connection's opening, export and close at debug. Returns the end of the log: it logs the
 * count of lines the last window did not log, if any (call it once the server has closed).
 */
export function logNbdEvents(nbd: NbdServer, eventLog: EventLogger, options: NbdEventLogOptions = {}): () => void {
  const now = options.now ?? Date.now;
  // Main thread only: the window's start, its lines logged at warn or error, and those it did not log.
  let windowStart = now();
  let windowLines = 0;
  let windowUnlogged = 0;
  const logUnlogged = (): void => {
    if (windowUnlogged === 0) return;
    eventLog(LOG_EVENTS.nbdLinesUnlogged, { lines: windowUnlogged, windowSeconds: NBD_LOG_WINDOW_MS / 1000 }, 'warn');
    windowLines += 1;
    windowUnlogged = 0;
  };
  /** Logs a line; one at warn or error only within the window's budget, else it is counted. */
  const log = (event: LogEvent, fields: Readonly<Record<string, unknown>>, level: LogLevel): void => {
    if (level === 'debug') {
      eventLog(event, fields, level);
      return;
    }
    const at = now();
    if (at - windowStart >= NBD_LOG_WINDOW_MS) {
      windowStart = at;
      windowLines = 0;
      logUnlogged();
    }
    if (windowLines >= NBD_WARN_LINES_PER_WINDOW) {
      windowUnlogged += 1;
      return;
    }
    windowLines += 1;
    eventLog(event, fields, level);
  };
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
  return logUnlogged;
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
