/**
 * The report of `snaptape check` (issue 10 item 7), shared by every kind of target: images
 * (image-check.ts, vtoc-check.ts), tapes (tape-check.ts) and subsystems (subsystem-target-check.ts).
 *
 * Invariants:
 * - every problem names where it is: a byte offset, a block number, a track, a CCHHR, a DSCB or a
 *   pool slot, as far as the target has them, and `location.text` says it in words;
 * - `problems` is what the check found before any repair; `remaining` is what a check after the
 *   repair still finds (the same list when nothing was repaired), so `clean` never trusts a repair.
 */

export type CheckTargetKind = 'image' | 'tape' | 'subsystem';

export type CheckFormat = 'ckd' | 'multi-file-ckd' | 'cckd' | 'cckd-shadow' | 'fba' | 'aws' | 'het' | 'subsystem';

/** Where a problem is; only the fields that apply are present. */
export interface CheckLocation {
  /** The location in words: "block 12 at byte offset 4818", "Format-1 at CCHHR 0000000803". */
  readonly text: string;
  readonly offsetBytes?: number;
  readonly blockNumber?: number;
  readonly track?: number;
  readonly cchhr?: string;
  readonly slot?: number;
}

export interface CheckProblem {
  /** A stable name of the kind of damage ("torn-block", "extent-overlap", …). */
  readonly kind: string;
  readonly location: CheckLocation;
  readonly message: string;
}

export interface CheckReport {
  readonly path: string;
  readonly kind: CheckTargetKind;
  readonly format: CheckFormat;
  /** One line: what the target was found to be ("a CKD image: 3390, 5 cylinders, VTOC of 3 tracks"). */
  readonly description: string;
  readonly problems: readonly CheckProblem[];
  /** What --repair changed (empty without --repair). */
  readonly repaired: readonly string[];
  /** The problems a check after the repair still finds. */
  readonly remaining: readonly CheckProblem[];
  /** Why each kind of remaining problem is left alone. */
  readonly notRepaired: readonly string[];
  readonly clean: boolean;
}

/** The parts a checker of one target kind returns; `finishReport` adds the rest. */
export interface CheckFindings {
  readonly format: CheckFormat;
  readonly description: string;
  readonly problems: readonly CheckProblem[];
}

export function problem(kind: string, location: CheckLocation, message: string): CheckProblem {
  return { kind, location, message };
}

/** Joins a first check, its repair and the check after it into one report. */
export function finishReport(options: {
  readonly path: string;
  readonly kind: CheckTargetKind;
  readonly before: CheckFindings;
  readonly repaired: readonly string[];
  readonly after: CheckFindings;
  readonly whyNotRepaired: (kind: string) => string;
}): CheckReport {
  const { before, after } = options;
  const kinds = [...new Set(after.problems.map((p) => p.kind))];
  return {
    path: options.path,
    kind: options.kind,
    format: after.format,
    description: after.description,
    problems: before.problems,
    repaired: options.repaired,
    remaining: after.problems,
    notRepaired: kinds.map((k) => `${k}: ${options.whyNotRepaired(k)}`),
    clean: after.problems.length === 0,
  };
}
