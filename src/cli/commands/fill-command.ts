/**
 * `snaptape fill <image> [--seed N] [--percent P]`: deterministic pseudo-random data sets. A fill
 * that fails (no room on the host, an I/O error) leaves none of its data sets behind.
 */
import type { Command } from 'commander';
import { withInjectedVolume, fillVolume } from '../../api/index.js';
import { parseCount, printResult } from '../cli-output.js';
import { phaseProgressBar, withBar } from '../progress-bar.js';

export function registerFill(program: Command): void {
  program
    .command('fill <image>')
    .description('fill a share of the free space with data sets of deterministic pseudo-random blocks')
    .option('--seed <n>', 'seed of the pseudo-random data', '1')
    .option('--percent <p>', 'share of the free tracks to fill (1-100)', '60')
    .option('--json', 'machine-readable output')
    .option('--inject <spec>', 'inject faults into the volume, e.g. write:3:ENOSPC (src/image/fault-plan.ts)')
    .action((image: string, flags: { seed: string; percent: string; json?: boolean; inject?: string }) => {
      const bar = phaseProgressBar(flags.json);
      const result = withBar(bar, () =>
        withInjectedVolume(image, flags.inject, (volume) =>
          fillVolume(volume, { seed: parseCount(flags.seed, '--seed'), percent: parseCount(flags.percent, '--percent'), onProgress: (p) => bar.update(p) }),
        ),
      );
      printResult(
        result,
        () => `${image}: ${result.datasets.length} data sets, ${result.tracksWritten} tracks, ${(result.bytesWritten / 1e6).toFixed(1)} MB`,
        flags,
      );
    });
}
