/** Shared helpers of the CCKD tests: run Hercules cckdcdsk and hold it against snaptape check. */
import { expect } from 'vitest';
import { checkImage } from '../../src/image/cckd-check.js';
import { runTool, type ToolResult } from '../harness/external-tools.js';

/** cckdcdsk at level 3 (tables, free space, every track image): no warnings, no errors. */
export function expectCckdcdskClean(path: string, cwd: string): ToolResult {
  const r = runTool('cckdcdsk', ['-3', '-ro', path], { cwd });
  const complaints = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /HHCCU\d{3}[EW]|error|inconsisten/i.test(l));
  expect(complaints, `cckdcdsk on ${path}`).toEqual([]);
  expect(r.status).toBe(0);
  return r;
}

/**
 * After random host writes that may include raw writes over a track's structure: the tables and
 * free space are clean for cckdcdsk, and the only track images it rejects (HHCCU622W) are the
 * ones `snaptape check` reports as undecodable — both tools agree on which tracks hold garbage.
 */
export function expectCckdcdskAgrees(path: string, cwd: string): void {
  const r = runTool('cckdcdsk', ['-3', '-ro', path], { cwd });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n');
  const theirs = lines
    .map((l) => /HHCCU622W .*trk\[(\d+)\]/.exec(l)?.[1])
    .filter((t): t is string => t !== undefined)
    .map(Number);
  const other = lines.filter((l) => /HHCCU\d{3}[EW]/.test(l) && !/HHCCU622W|HHCCU500W/.test(l));
  expect(other, `cckdcdsk on ${path}`).toEqual([]);
  const report = checkImage(path);
  expect(
    report.problems.filter((p) => p.kind !== 'track'),
    `snaptape check on ${path}`,
  ).toEqual([]);
  const ours = report.problems.map((p) => p.track).filter((t): t is number => t !== undefined);
  expect(theirs.sort((a, b) => a - b)).toEqual(ours.sort((a, b) => a - b));
}
