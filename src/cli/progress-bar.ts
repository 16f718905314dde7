/**
 * The progress bar of long commands, on a TTY only (stderr): tracks, MB/s, in-order and
 * out-of-order copies, and the ETA. Off a TTY, or with --json, nothing is drawn.
 */
import cliProgress from 'cli-progress';
import { type BackupProgress } from '../api/index.js';

export interface ProgressBar {
  update(progress: BackupProgress): void;
  stop(): void;
}

export function backupProgressBar(enabled: boolean, unitName: string): ProgressBar {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `{bar} {percentage}% | ${unitName} {copied}/{total} | {mbps} MB/s | in order {inOrder} | out of order {outOfOrder} | ETA {eta_formatted}`,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (p) => {
      const copied = p.copiedInOrder + p.copiedOutOfOrder;
      const payload = { copied, inOrder: p.copiedInOrder, outOfOrder: p.copiedOutOfOrder, mbps: p.mbPerSecond.toFixed(1) };
      if (!started) {
        bar.start(p.slotsTotal, copied, payload);
        started = true;
      } else bar.update(copied, payload);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
