/** `snaptape compare <a> <b>`: two volumes (image files or mapped volumes) of the same geometry, unit by unit (tracks or blocks). */
import type { Command } from 'commander';
import { compareImages } from '../../api/index.js';
import { VerifyError } from '../../errors/snaptape-error.js';
import { printResult, reportFailureAfterResult } from '../cli-output.js';
import { phaseProgressBar, withBar } from '../progress-bar.js';

export function registerCompare(program: Command): void {
  program
    .command('compare <a> <b>')
    .description('compare two volume images unit by unit; exits non-zero when they differ')
    .option('--json', 'machine-readable output')
    .action((a: string, b: string, flags: { json?: boolean }) => {
      const bar = phaseProgressBar(flags.json);
      const result = withBar(bar, () => compareImages(a, b, { onProgress: (p) => bar.update(p) }));
      printResult(
        result,
        () =>
          `${a} vs ${b}: ${result.units} units, ${result.mismatched} mismatched${result.firstMismatch !== null ? ` (first: unit ${result.firstMismatch})` : ''}`,
        flags,
      );
      // The result is the one JSON document; the failure adds only its line on stderr and the status.
      if (result.mismatched > 0)
        process.exitCode = reportFailureAfterResult(
          new VerifyError(`Cannot match ${a} and ${b}: ${result.mismatched} units differ, the first is unit ${result.firstMismatch}`, { a, b }),
        );
    });
}
