/**
 * `snaptape subsystem init <dir> --type 3390`, `subsystem check <dir> [--repair]` and
 * `subsystem usage <dir>`: the folder that holds a track pool and its mapped volumes (issue 6).
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors/snaptape-error.js';
import { familyByName, checkSubsystem, poolUsage, type SubsystemCheckReport as CheckReport, initSubsystem } from '../../api/index.js';
import { printResult } from '../cli-output.js';
import { phaseProgressBar, withBar } from '../progress-bar.js';

/** Exit status of a check that found problems it was not asked to repair (the VERIFY status). */
const CHECK_FOUND_PROBLEMS_STATUS = 16;

function describeCheck(r: CheckReport): string {
  const lines = [
    `${r.dir}: ${r.slotCount} slots, ${r.referencedSlots} in use, ${r.freeSlots} free; ${r.volumes.length} volumes (${r.volumes.join(', ') || 'none'}), ${r.pins} pins`,
  ];
  if (r.wasOpen) lines.push('the pool was not closed cleanly (a process holding it ended)');
  if (r.miscounted > 0)
    lines.push(
      `${r.miscounted} counts were wrong: ${r.leaked} leaked slots${r.leakedSlots.length ? ` (${r.leakedSlots.join(' ')})` : ''}, ${r.doubleUsed} double-used slots${r.doubleUsedSlots.length ? ` (${r.doubleUsedSlots.join(' ')})` : ''}`,
    );
  lines.push(r.repaired ? 'repaired: counts rebuilt from the directories' : r.clean ? 'clean' : 'not repaired (run with --repair)');
  return lines.join('\n');
}

export function registerSubsystem(program: Command): void {
  const group = program.command('subsystem').description('a storage subsystem folder: a pool of track slots shared by mapped volumes');
  group
    .command('init <dir>')
    .description('create a subsystem folder with an empty track pool')
    .requiredOption('--type <family>', "device family of the pool's slots: 3390 or 3380")
    .option('--force', 'replace an existing pool')
    .option('--json', 'machine-readable output')
    .action((dir: string, flags: { type: string; force?: boolean; json?: boolean }) => {
      const family = familyByName(flags.type.replace(/-.*$/, '').toUpperCase());
      if (!family) throw new UsageError(`Cannot create a subsystem of type "${flags.type}": the pool holds 3390 or 3380 track slots`);
      const shape = initSubsystem(dir, family, { force: flags.force });
      const result = { dir, family: family.family, slotBytes: shape.slotBytes };
      printResult(result, () => `${dir}: subsystem of ${family.family} track slots (${shape.slotBytes} bytes each)`, flags);
    });
  group
    .command('check <dir>')
    .description('rebuild reference counts from the volume directories; report leaked or double-used slots')
    .option('--repair', 'write the rebuilt counts')
    .option('--json', 'machine-readable output')
    .action((dir: string, flags: { repair?: boolean; json?: boolean }) => {
      const bar = phaseProgressBar(flags.json);
      const report = withBar(bar, () => checkSubsystem(dir, { repair: flags.repair, onProgress: (p) => bar.update(p) }));
      printResult(report, () => describeCheck(report), flags);
      if (!report.clean) process.exitCode = CHECK_FOUND_PROBLEMS_STATUS;
    });
  group
    .command('usage <dir>')
    .description('pool slots in use, counted from the directories')
    .option('--json', 'machine-readable output')
    .action((dir: string, flags: { json?: boolean }) => {
      const usage = poolUsage(dir);
      printResult(
        usage,
        () => `${dir}: ${usage.referencedSlots} of ${usage.slotCount} ${usage.family} slots in use; volumes: ${usage.volumes.join(', ') || 'none'}`,
        flags,
      );
    });
}
