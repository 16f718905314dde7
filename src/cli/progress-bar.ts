/**
 * The progress bars of long commands, on a TTY only (stderr), each labelled with its phase (copy,
 * SHA-256, verify, write, check). Off a TTY, with --json or with --quiet, nothing is drawn.
 */
import cliProgress from 'cli-progress';
import { type BackupProgress, type PhaseProgress } from '../api/index.js';
import { isQuiet } from './cli-output.js';

export interface ProgressBar<T> {
  update(progress: T): void;
  stop(): void;
}

const PHASE_LABELS: Readonly<Record<PhaseProgress['phase'], string>> = {
  copy: 'copy',
  sha256: 'SHA-256',
  verify: 'verify',
  write: 'write',
  check: 'check',
};

/** True when a bar may be drawn: stderr is a terminal, and neither --json nor --quiet was given. */
export function barsAllowed(json: boolean | undefined): boolean {
  return !json && !isQuiet() && process.stderr.isTTY === true;
}

const NO_BAR = { update: () => undefined, stop: () => undefined };

/**
 * A bar per phase: a new phase, or a new total (the same phase of the next copy, as a version's
 * clones one after another), starts the bar again (so its ETA is its own), labelled
 * "SHA-256 ███░░ 40% | 120/300 blocks | ETA 3s".
 */
export function phaseProgressBar(json: boolean | undefined): ProgressBar<PhaseProgress> {
  if (!barsAllowed(json)) return NO_BAR;
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: '{phase} {bar} {percentage}% | {value}/{total} {unit} | ETA {eta_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let phase: string | undefined;
  let total = 0;
  return {
    update: (p) => {
      if (p.total === 0) return;
      const payload = { phase: PHASE_LABELS[p.phase].padEnd(7), unit: p.unit };
      if (p.phase !== phase || p.total !== total) {
        if (phase !== undefined) bar.stop();
        phase = p.phase;
        total = p.total;
        bar.start(p.total, p.done, payload);
      } else bar.update(p.done, payload);
    },
    stop: () => {
      if (phase !== undefined) bar.stop();
      phase = undefined;
    },
  };
}

/** Runs `body` with `bar` drawn, and takes the bar down however it ends (before a result or an error prints). */
export function withBar<T, P>(bar: ProgressBar<P>, body: () => T): T {
  try {
    return body();
  } finally {
    bar.stop();
  }
}

/**
 * The label and line of a backup's progress: the copy with tracks, MB/s, in-order and out-of-order
 * copies and its ETA; once every unit is copied (state completing) the blocks' digests are folded
 * and the tape flushed and its headers and labels read back on a worker thread, which reports no
 * counts: the line says so instead of "100% ETA 0s", and the last line says the backup is done.
 */
export function backupProgressLine(p: BackupProgress, unitName: string): { phase: string; line: string } {
  const copied = p.copiedInOrder + p.copiedOutOfOrder;
  if (p.state === 'completing') return { phase: 'digests + check', line: "folding each element's digest and reading the tape's headers back" };
  if (p.state === 'completed') return { phase: 'done', line: `${unitName} ${copied}/${p.slotsTotal} copied and hashed, tape checked` };
  return {
    phase: 'copy',
    line: `${unitName} ${copied}/${p.slotsTotal} | ${p.mbPerSecond.toFixed(1)} MB/s | in order ${p.copiedInOrder} | out of order ${p.copiedOutOfOrder}`,
  };
}

export function backupProgressBar(enabled: boolean, unitName: string): ProgressBar<BackupProgress> {
  if (!enabled || !barsAllowed(false)) return NO_BAR;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      // The ETA means something only while copying: the finishing phase shows its label instead.
      format: (options, params, payload: { phase: string; line: string }) =>
        payload.phase === 'copy'
          ? `copy ${cliProgress.Format.BarFormat(params.progress, options)} ${Math.round(params.progress * 100)}% | ${payload.line} | ETA ${cliProgress.Format.TimeFormat(params.eta, options, 1)}`
          : `${payload.phase}: ${payload.line}`,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (p) => {
      const copied = p.copiedInOrder + p.copiedOutOfOrder;
      const payload = backupProgressLine(p, unitName);
      if (!started) {
        bar.start(p.slotsTotal, copied, payload);
        started = true;
      } else bar.update(copied, payload);
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}
