/**
 * `snaptape check <image|tape|subsystem> [--repair]`: finds what the path is (check-target.ts),
 * checks it, makes the safe repairs when asked, and checks again, so the report's `remaining` and
 * `clean` come from the bytes as they are after the repair.
 *
 * Invariant: without `repair` nothing is written: every check reads through read-only descriptors.
 */
import type { OnPhaseProgress } from '../base/phase-progress.js';
import { finishReport, type CheckFindings, type CheckReport } from './check-report.js';
import { detectCheckTarget } from './check-target.js';
import { inspectImageTarget, repairImage, whyImageProblemStays } from './image-check.js';
import { inspectSubsystemTarget, repairSubsystem, whySubsystemProblemStays } from './subsystem-target-check.js';
import { inspectTape, repairTape, whyTapeProblemStays } from './tape-check.js';

export interface RunCheckOptions {
  readonly repair?: boolean;
  /** Told the tracks an image's check reads (phase check), a tape's bytes and blocks (check, verify), a subsystem's volumes (check). */
  readonly onProgress?: OnPhaseProgress;
}

/** Checks an image (CKD, CCKD, FBA, multi-file; with its VTOC), a tape or a subsystem folder and reports every problem with its location; with `repair`, repairs what it can and reports that too. Problems are in the report, not thrown; throws ImageFormatError when the path is none of these. */
export function runCheck(path: string, options: RunCheckOptions = {}): CheckReport {
  const repair = options.repair ?? false;
  const target = detectCheckTarget(path);
  if (target.kind === 'tape') {
    const before = inspectTape(path, options.onProgress);
    const repaired = repair && before.findings.problems.length > 0 ? repairTape(path, before) : [];
    const after: CheckFindings = repaired.length > 0 ? inspectTape(path, options.onProgress).findings : before.findings;
    return finishReport({ path, kind: 'tape', before: before.findings, repaired, after, whyNotRepaired: (k) => whyTapeProblemStays(k, repair) });
  }
  if (target.kind === 'subsystem') {
    const before = inspectSubsystemTarget(target.dir, options.onProgress);
    const repaired = repair && before.problems.length > 0 ? repairSubsystem(target.dir) : [];
    const after = repaired.length > 0 ? inspectSubsystemTarget(target.dir, options.onProgress) : before;
    return finishReport({ path, kind: 'subsystem', before, repaired, after, whyNotRepaired: (k) => whySubsystemProblemStays(k, repair) });
  }
  const before = inspectImageTarget(target, options.onProgress);
  const repaired = repair && before.problems.length > 0 ? repairImage(target, before) : [];
  const after = repaired.length > 0 ? inspectImageTarget(target, options.onProgress) : before;
  return finishReport({ path, kind: 'image', before, repaired, after, whyNotRepaired: (k) => whyImageProblemStays(k, repair) });
}
