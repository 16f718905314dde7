/**
 * `snaptape check <image|tape|subsystem> [--repair] [--json]`: finds what the path is (a CKD, CCKD
 * or FBA image, a multi-file volume, an AWSTAPE or HET tape, a subsystem folder), checks its
 * structure as Hercules cckdcdsk does for images, reports each problem with its location, and with
 * --repair makes only the repairs that cannot lose data (src/check/). Exits with the VERIFY status
 * while problems remain; a path that is none of those is an IMAGE_FORMAT error.
 */
import type { Command } from 'commander';
import { VerifyError } from '../../errors/snaptape-error.js';
import { runCheck, type CheckReport } from '../../api/index.js';
import { printResult, reportFailureAfterResult } from '../cli-output.js';
import { phaseProgressBar, withBar } from '../progress-bar.js';

function describeReport(r: CheckReport): string {
  const lines = [`${r.path}: ${r.description}`, `${r.problems.length} problem(s) found`];
  for (const p of r.problems) lines.push(`  ${p.kind} at ${p.location.text}: ${p.message}`);
  for (const done of r.repaired) lines.push(`repaired: ${done}`);
  if (r.repaired.length > 0) lines.push(`${r.remaining.length} problem(s) remain after the repair`);
  for (const why of r.notRepaired) lines.push(`not repaired: ${why}`);
  lines.push(r.clean ? 'clean' : 'NOT clean');
  return lines.join('\n');
}

export function registerCheck(program: Command): void {
  program
    .command('check <path>')
    .description(
      'check an image (CKD, CCKD, FBA, multi-file; with its VTOC), a tape (AWSTAPE, HET) or a subsystem folder; report every problem with its location',
    )
    .option(
      '--repair',
      'make only the repairs that cannot lose data (CCKD free space, VTOC free space and counters, a torn tape tail, subsystem reference counts)',
    )
    .option('--json', 'machine-readable output')
    .action((path: string, flags: { repair?: boolean; json?: boolean }) => {
      const bar = phaseProgressBar(flags.json);
      const report = withBar(bar, () => runCheck(path, { repair: flags.repair, onProgress: (p) => bar.update(p) }));
      printResult(report, () => describeReport(report), flags);
      if (!report.clean) {
        const hint = flags.repair ? '' : ' (see "not repaired" for what --repair would do)';
        process.exitCode = reportFailureAfterResult(
          new VerifyError(
            `Cannot pass the check of ${path}: ${report.remaining.length} problem(s) remain, the first ${report.remaining[0]?.kind} at ${report.remaining[0]?.location.text}${hint}`,
            { path },
          ),
        );
      }
    });
}
