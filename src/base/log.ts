/**
 * The log catalog (logs are declared, not improvised): every pino event snaptape emits is named here once, with its
 * fields. Per-track events stay at debug level. Logs go to a file, or to stderr when a level is given;
 * a line the file cannot take (a full disk) is dropped and counted (`log.lines-lost`), never kept.
 */
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type * as Pino from 'pino';
import type { Logger } from 'pino';
import { UsageError } from '../errors/snaptape-error.js';
import { translateIoError } from '../errors/io-error.js';
import { appendAtMost } from './file-io.js';
import { lazyPackage } from './lazy-package.js';

/** Loaded by the first logger: only a run with a log level or file logs. */
const pinoPackage = lazyPackage<typeof Pino>('pino');

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
  nbdLinesUnlogged: 'nbd.lines-unlogged', // lines, windowSeconds (warn lines of all connections past the window's bound; the next window's first)
  logLinesLost: 'log.lines-lost', // lines (not written: the log file could not take them; told once it can again)
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

/**
 * Where the logger's lines go: each is written at once, as pino hands it over. A line that cannot be
 * written (a full disk, a closed stderr) is dropped and counted, neither kept nor thrown: the program
 * goes on, and its memory does not grow with what the log cannot take meanwhile (a buffered
 * destination would keep every such line, however many an NBD client makes a server log).
 */
class LogLines {
  // Set once.
  private readonly fd: number;
  private readonly path: string;
  // Main thread only.
  /** Lines not written, or not whole, since the last count of them was logged. */
  lost = 0;
  /** Whether the last line was written whole. */
  lastWritten = true;
  /** A line was cut part-way: the next one written starts on a line of its own. */
  private cut = false;

  constructor(fd: number, path: string) {
    this.fd = fd;
    this.path = path;
  }

  write(line: string): void {
    const bytes = Buffer.from(this.cut ? `\n${line}` : line, 'utf8');
    const written = appendAtMost(this.fd, bytes, this.path, () => undefined, 'the log');
    this.lastWritten = written === bytes.length;
    if (this.lastWritten) {
      this.cut = false;
      return;
    }
    this.lost += 1;
    this.cut ||= written > 0;
  }
}

/** The log file, opened to append (its directory made if missing). */
function openLogFile(path: string): number {
  try {
    mkdirSync(dirname(path), { recursive: true });
    return openSync(path, 'a');
  } catch (error) {
    throw translateIoError(error, 'open the log file', path);
  }
}

/** A structured (pino) event logger at `options.level` to `options.file` or stderr; with neither, a logger that drops events. Call `flush` before exiting. */
export function createEventLogger(options: LogOptions): { log: EventLogger; logger: Logger | undefined; flush: () => void } {
  if (!options.level && !options.file) return { log: () => undefined, logger: undefined, flush: () => undefined };
  if (options.level !== undefined && !(LOG_LEVELS as readonly string[]).includes(options.level)) {
    throw new UsageError(`Cannot log at level "${options.level}": the levels are ${LOG_LEVELS.join(', ')}`);
  }
  const lines = options.file ? new LogLines(openLogFile(options.file), options.file) : new LogLines(2, 'stderr');
  const logger = pinoPackage().pino({ level: options.level ?? 'info', base: { pid: process.pid } }, lines);
  // The count of lost lines is told at warn, or at error where the logger takes nothing below it.
  const lostLevel = logger.isLevelEnabled('warn') ? 'warn' : 'error';
  return {
    logger,
    log: (event, fields, level = 'info') => {
      logger[level]({ event, ...fields }, event);
      if (lines.lost === 0 || !lines.lastWritten) return;
      // The log takes lines again: one says how many it lost meanwhile (counted again if it cannot be written).
      const lost = lines.lost;
      logger[lostLevel]({ event: LOG_EVENTS.logLinesLost, lines: lost }, LOG_EVENTS.logLinesLost);
      if (lines.lastWritten) lines.lost -= lost;
    },
    // Every line is written as it is logged: nothing waits to be flushed.
    flush: () => undefined,
  };
}
