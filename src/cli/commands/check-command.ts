/**
 * `snaptape check <image> [--repair]`: reports free-space and table damage of a CCKD image as
 * Hercules cckdcdsk does, and undecodable tracks of any CKD image; `--repair` rebuilds only the
 * free space (image cckd-check.ts). Exits non-zero while problems remain.
 */
import type { Command } from 'commander';
import { VerifyError } from '../../errors/snaptape-error.js';
import { checkImage } from '../../image/cckd-check.js';
import { printResult } from '../cli-output.js';

export function registerCheck(program: Command): void {
  program
    .command('check <image>')
    .description('check a CKD or compressed CCKD image: tables, free space, track images (as Hercules cckdcdsk)')
    .option('--repair', 'rebuild the free-space chain and statistics when the tables are sound (nothing else is changed)')
    .option('--json', 'machine-readable output')
    .action((image: string, flags: { repair?: boolean; json?: boolean }) => {
      const report = checkImage(image, { repair: flags.repair });
      printResult(report, () => [
        `${image}: ${report.format}, ${report.tracks} tracks, ${report.problems.length} problem(s)`,
        ...report.problems.map((p) => `  ${p.kind}: ${p.message}`),
        ...report.repaired.map((r) => `  repaired: ${r}`),
      ].join('\n'), flags);
      if (report.unrepairable > 0) {
        throw new VerifyError(`Cannot pass the check of ${image}: ${report.unrepairable} problem(s) remain${report.repaired.length === 0 && report.problems.some((p) => p.kind === 'free-space' || p.kind === 'statistics') ? ' (snaptape check --repair rebuilds the free space)' : ''}`, { path: image });
      }
    });
}
