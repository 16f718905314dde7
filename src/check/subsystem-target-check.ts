/**
 * `snaptape check` of a subsystem folder (or of a mapped volume, which checks its folder): the
 * reference counts rebuilt from every track directory and pin, against pool.refs
 * (subsystem/subsystem-check.ts, also `snaptape subsystem check`). Repair writes the rebuilt counts,
 * which is safe: the directories are the truth, and data is made durable before pointers and
 * pointers before counts (ARCHITECTURE.md, mapped volumes).
 */
import type { OnPhaseProgress } from '../base/phase-progress.js';
import { checkSubsystem, type CheckReport as SubsystemReport } from '../subsystem/subsystem-check.js';
import { problem, type CheckFindings, type CheckProblem } from './check-report.js';

function slotList(slots: readonly number[], total: number): string {
  return `${slots.join(' ')}${total > slots.length ? ` … (${total - slots.length} more)` : ''}`;
}

function problemsOf(r: SubsystemReport): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const refs = { text: `${r.dir}/pool.refs` };
  if (r.wasOpen)
    problems.push(problem('pool-open', refs, `The pool of ${r.dir} was not closed cleanly (a process holding it ended): its reference counts may be stale`));
  if (r.leaked > 0) {
    problems.push(
      problem(
        'leaked-slots',
        { ...refs, slot: r.leakedSlots[0] },
        `${r.leaked} slots are counted as used but no directory points at them (space lost, data safe): ${slotList(r.leakedSlots, r.leaked)}`,
      ),
    );
  }
  if (r.doubleUsed > 0) {
    problems.push(
      problem(
        'double-used-slots',
        { ...refs, slot: r.doubleUsedSlots[0] },
        `${r.doubleUsed} slots have more pointers than their count says (a write would show through to another volume): ${slotList(r.doubleUsedSlots, r.doubleUsed)}`,
      ),
    );
  }
  const other = r.miscounted - r.leaked - r.doubleUsed;
  if (other > 0) problems.push(problem('miscounted-slots', refs, `${other} more slots have reference counts that differ from the pointers to them`));
  return problems;
}

function findingsOf(r: SubsystemReport): CheckFindings {
  return {
    format: 'subsystem',
    description: `a subsystem folder: ${r.slotCount} slots, ${r.referencedSlots} in use; ${r.volumes.length} volumes (${r.volumes.join(', ') || 'none'}), ${r.pins} pins`,
    problems: problemsOf(r),
  };
}

export function inspectSubsystemTarget(dir: string, onProgress?: OnPhaseProgress): CheckFindings {
  return findingsOf(checkSubsystem(dir, { onProgress }));
}

/** Writes the rebuilt counts and marks the pool clean; returns what was done. */
export function repairSubsystem(dir: string): string[] {
  const r = checkSubsystem(dir, { repair: true });
  return r.repaired
    ? [`rebuilt the reference counts of ${r.slotCount} slots from the directories of ${r.volumes.length} volumes and ${r.pins} pins, and marked the pool clean`]
    : [];
}

export function whySubsystemProblemStays(_kind: string, repairAsked: boolean): string {
  return repairAsked
    ? 'the counts were rebuilt but still differ (a writer changed the pool meanwhile?)'
    : 'run check --repair to rebuild the counts from the directories';
}
