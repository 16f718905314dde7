/**
 * `--events`: newline-delimited JSON on stdout, one line per event, in the shape of the control
 * API's server-sent events (`SessionEvent`: {"kind":"state"|"progress"|"end","session":{...}}), so
 * a script reads a local run and a served one alike. The local session's id is `local-1`.
 */
import type { SessionEvent, SessionInfo } from '../control-api/control-api-types.js';
import type { SessionState } from '../session/session-state.js';

/** A local session's progress record (a BackupProgress): the technique's own, with its state. */
export interface LocalProgress {
  readonly state: SessionState;
}

/** Writes the progress of a session run in this process as JSON lines (start, progress, end), the same events a server streams. */
export class LocalEventWriter {
  // Set once.
  private readonly volume: string;
  private readonly target: string;
  private readonly createdAt = new Date().toISOString();
  private readonly write: (line: string) => void;
  // Main thread only.
  private lastState = '';

  constructor(options: { volume: string; target: string; write?: (line: string) => void }) {
    this.volume = options.volume;
    this.target = options.target;
    this.write = options.write ?? ((line) => process.stdout.write(line));
  }

  private info(progress: LocalProgress, summary: unknown, error: SessionInfo['error']): SessionInfo {
    const final = summary !== null || error !== null;
    return {
      id: 'local-1',
      type: 'backup',
      volume: this.volume,
      target: this.target,
      state: progress.state,
      createdAt: this.createdAt,
      finishedAt: final ? new Date().toISOString() : null,
      progress: { ...progress },
      summary,
      error,
    };
  }

  private emit(event: SessionEvent): void {
    this.write(`${JSON.stringify(event)}\n`);
  }

  /** A progress sample; a change of state is also sent as a `state` event first. */
  progress(progress: LocalProgress): void {
    if (progress.state !== this.lastState) {
      this.lastState = progress.state;
      this.emit({ kind: 'state', session: this.info(progress, null, null) });
    }
    this.emit({ kind: 'progress', session: this.info(progress, null, null) });
  }

  /** Writes the last event: the summary of a finished session, or its error. */
  end(progress: LocalProgress, outcome: { summary: unknown } | { error: { code: string; message: string } }): void {
    this.emit({ kind: 'end', session: this.info(progress, 'summary' in outcome ? outcome.summary : null, 'error' in outcome ? outcome.error : null) });
  }
}
