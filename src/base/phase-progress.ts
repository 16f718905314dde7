/**
 * Progress of a long library call by phases (copy, SHA-256, verify, write, check), for a caller that
 * draws it (the CLI's bar) or logs it. The callback is optional everywhere: without one, reporting
 * costs a comparison per unit.
 */

/** What the operation is doing now: `sha256` hashes what was read, `verify` checks it, `copy` and `write` write. */
export type ProgressPhase = 'copy' | 'sha256' | 'verify' | 'write' | 'check';

export interface PhaseProgress {
  readonly phase: ProgressPhase;
  /** Units done in this phase, of `total`. */
  readonly done: number;
  readonly total: number;
  /** What a unit is: blocks, tracks, bytes, labels... */
  readonly unit: string;
}

export type OnPhaseProgress = (progress: PhaseProgress) => void;

/** Calls between two reports at most: about 200 reports a phase, however many units it has. */
const REPORTS_PER_PHASE = 200;

/** Counts units through the phases of one call and reports them, throttled, to `listener`. */
export class PhaseReporter {
  private phase: ProgressPhase = 'copy';
  private unit = '';
  private total = 0;
  private done = 0;
  private reportedAt = 0;

  constructor(private readonly listener?: OnPhaseProgress) {}

  /** Starts a phase of `total` units (reported at once, at 0). */
  begin(phase: ProgressPhase, total: number, unit: string): void {
    this.phase = phase;
    this.total = total;
    this.unit = unit;
    this.done = 0;
    this.reportedAt = 0;
    this.report();
  }

  advance(units = 1): void {
    if (!this.listener) return;
    this.done += units;
    if (this.done >= this.total || this.done - this.reportedAt >= Math.max(1, Math.floor(this.total / REPORTS_PER_PHASE))) this.report();
  }

  private report(): void {
    this.reportedAt = this.done;
    this.listener?.({ phase: this.phase, done: Math.min(this.done, this.total), total: this.total, unit: this.unit });
  }
}
