/**
 * The log catalog (logs are declared, not improvised): every pino event snaptape emits is named here once, with its
 * fields. Per-track events stay at debug level. Logs go to a file, or to stderr when a level is given.
 */
import { pino, type Logger } from 'pino';

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
} as const;
export type LogEvent = (typeof LOG_EVENTS)[keyof typeof LOG_EVENTS];

export type EventLogger = (event: LogEvent, fields: Readonly<Record<string, unknown>>) => void;

export interface LogOptions {
  /** Log to stderr at this level. */
  readonly level?: string;
  /** Log to this file (at info, or `level`). */
  readonly file?: string;
}

/** A structured (pino) event logger at `options.level` to `options.file` or stderr; with neither, a logger that drops events. Call `flush` before exiting. */
export function createEventLogger(options: LogOptions): { log: EventLogger; logger: Logger | undefined; flush: () => void } {
  if (!options.level && !options.file) return { log: () => undefined, logger: undefined, flush: () => undefined };
  const destination = options.file ? pino.destination({ dest: options.file, sync: true, mkdir: true }) : pino.destination({ dest: 2, sync: true });
  const logger = pino({ level: options.level ?? 'info', base: { pid: process.pid } }, destination);
  return {
    logger,
    log: (event, fields) => logger.info({ event, ...fields }, event),
    flush: () => destination.flushSync(),
  };
}
