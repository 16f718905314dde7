/**
 * The log catalog (logs are declared, not improvised): every pino event snaptape emits is named here once, with its
 * fields. Per-track events stay at debug level. Logs go to a file, or to stderr when a level is given.
 */
import { pino, type Logger } from 'pino';
import { UsageError } from '../errors/snaptape-error.js';

export const LOG_EVENTS = {
  backupStarted: 'backup.started', // tape, source, elements, slots, workers
  backupProgress: 'backup.progress', // copiedInOrder, copiedOutOfOrder, bytesCopied, mbPerSecond
  backupCompleted: 'backup.completed', // seconds, bytes, copiedInOrder, copiedOutOfOrder, sha256
  backupFailed: 'backup.failed', // reason, code
  cbwError: 'backup.cbw-error', // policy, reason (the first copy-before-write failure; latched)
  sessionState: 'session.state', // session, state
  restoreCompleted: 'restore.completed', // to, elements, units
  verifyCompleted: 'verify.completed', // tape, ok, elements
  hostLoadStopped: 'load.stopped', // writes, latencyP50Us, latencyP99Us, correctedP99Us
  versionNotification: 'version.notification', // targetPool, sourcePath, failedChecks, message
  versionCreated: 'version.created', // version, targetPool, basis, pairs, instant
  serveStarted: 'serve.started', // pid, nbd, control, exports, warnings
  serveStopped: 'serve.stopped', // cancelledSessions, unsettledSessions
  sessionProgress: 'session.progress', // session, type, volume, progress (debug)
  nbdConnection: 'nbd.connection', // connection, state (opened, export, closed), remote, export, reason (debug)
  nbdRefused: 'nbd.refused', // remote, reason (a connection refused before its handshake)
  nbdExportRefused: 'nbd.export-refused', // connection, export, reason (no such export, held, a mirror link refused)
  nbdProtocolError: 'nbd.protocol-error', // connection, reason (the connection is dropped)
  nbdRequestRefused: 'nbd.request-refused', // connection, export, command, errno, reason (refused before the backend: read-only, out of range)
  nbdBackendError: 'nbd.backend-error', // connection, export, command, errno, reason (error level when internal)
  nbdRequestsUnlogged: 'nbd.requests-unlogged', // connection, requests (refused or failed past the per-connection bound, at its close)
} as const;
export type LogEvent = (typeof LOG_EVENTS)[keyof typeof LOG_EVENTS];

/** The levels an event is logged at; info unless the event says otherwise (per-unit progress is debug). */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type EventLogger = (event: LogEvent, fields: Readonly<Record<string, unknown>>, level?: LogLevel) => void;

export interface LogOptions {
  /** Log to stderr at this level. */
  readonly level?: string;
  /** Log to this file (at info, or `level`). */
  readonly file?: string;
}

/** A structured (pino) event logger at `options.level` to `options.file` or stderr; with neither, a logger that drops events. Call `flush` before exiting. */
export function createEventLogger(options: LogOptions): { log: EventLogger; logger: Logger | undefined; flush: () => void } {
  if (!options.level && !options.file) return { log: () => undefined, logger: undefined, flush: () => undefined };
  if (options.level !== undefined && !(LOG_LEVELS as readonly string[]).includes(options.level)) {
    throw new UsageError(`Cannot log at level "${options.level}": the levels are ${LOG_LEVELS.join(', ')}`);
  }
  const destination = options.file ? pino.destination({ dest: options.file, sync: true, mkdir: true }) : pino.destination({ dest: 2, sync: true });
  const logger = pino({ level: options.level ?? 'info', base: { pid: process.pid } }, destination);
  return {
    logger,
    log: (event, fields, level = 'info') => logger[level]({ event, ...fields }, event),
    flush: () => destination.flushSync(),
  };
}
