/**
 * `snaptape restore <tape> --to <image>` and `snaptape verify <tape>`. Both check every element's
 * SHA-256 against the tape's own trailer label (UTL1), and its labels against UTL2; restore leaves
 * nothing written unless all of them match (a new volume is written in the pass that hashes the
 * tape, and removed if it does not verify).
 */
import type { Command } from 'commander';
import { UsageError, VerifyError } from '../../errors/snaptape-error.js';
import {
  catalogPath,
  hasVaultedCartridges,
  verifyVaultedSet,
  libraryTape,
  restoreChain,
  verifyBackupTape,
  verifyChain,
  labelMismatchError,
  type ChainVerifyReport,
  type LibraryTape,
} from '../../api/index.js';
import { parseCount, printResult, reportFailureAfterResult } from '../cli-output.js';
import { phaseProgressBar, withBar } from '../progress-bar.js';

interface RestoreFlags {
  to: string;
  dataset?: string;
  rename?: string;
  replace?: boolean;
  newVolume?: boolean;
  type?: string;
  cyls?: string;
  force?: boolean;
  fbaBlock?: string;
  json?: boolean;
  library?: string;
  catalog?: string;
}

/**
 * With --library, `<tape>` is a cartridge's volser: `body` reads the tape of its backup set (the
 * cartridge, or its cartridges joined in order), which is removed afterwards.
 */
async function withTapeOf<T>(
  tape: string,
  flags: { library?: string; catalog?: string; fbaBlock?: string; dataset?: string },
  body: (path: string, loaded?: LibraryTape) => T,
): Promise<T> {
  if (flags.library === undefined) return body(tape);
  if (flags.fbaBlock !== undefined) throw new UsageError('Cannot use --fba-block with --library: a cartridge is a tape file of its own');
  const loaded = await libraryTape(flags.library, tape, { catalog: catalogPath(flags.catalog), dataset: flags.dataset });
  try {
    return body(loaded.tapePath, loaded);
  } finally {
    loaded.done();
  }
}

export function registerRestoreVerify(program: Command): void {
  program
    .command('restore <tapes...>')
    .description('restore a backup tape, or a chain (a full backup, then its incrementals in order), after verifying it, to a volume or into a new volume')
    .addHelpText(
      'after',
      `
What each mode writes (nothing at all unless every element verifies and the target passes its checks;
a new volume is written as the tape is hashed, and removed if the tape does not verify):
  whole volume      every track, track for track, onto a volume of the same device type with at
                    least as many cylinders (a bigger one keeps its size: its VTOC and free space grow)
  --dataset NAME    through the target's VTOC: the data set is allocated in free space and
                    catalogued, and only its new extents and its DSCBs are written; the tracks'
                    old addresses are never used
  --replace         a data set of the same name is overwritten in its own extents if the data fits,
                    else deleted and allocated afresh; without it a name clash is refused
  --rename NEW      the data set is restored under another name
  --new-volume      creates the target first (the source's device type and size unless --type/--cyls)
  FBA tapes         blocks go back to the blocks they came from
  FULL INC1 INC2    a chain: the full backup, then each incremental's tracks over it, so the target
                    holds the last tape's instant; every link's base must be the tape before it`,
    )
    .requiredOption('--to <image>', 'target volume image')
    .option('--dataset <name>', "restore only this data set (through the target's VTOC)")
    .option('--rename <newname>', 'restore the data set under this name')
    .option('--replace', 'overwrite (or reallocate) a data set of the same name on the target')
    .option('--new-volume', "create the target (default: the source's device type and size, as the tape records them)")
    .option('--type <type>', 'device type of the new volume')
    .option('--cyls <n>', 'cylinders of the new volume')
    .option('--force', 'replace an existing target file with --new-volume')
    .option('--fba-block <n>', 'the tape is on the FBA volume <tape> from block N')
    .option('--json', 'machine-readable output')
    .option('--library <dir>', '<tape> is the volser of a cartridge in this tape library (a multi-volume set is read in order)')
    .option('--catalog <file>', 'catalog of the library (default $SNAPTAPE_CATALOG or ./snaptape.db)')
    .action(async (tapes: string[], flags: RestoreFlags) => {
      const bar = phaseProgressBar(flags.json);
      const tape = tapes.join(' ');
      if (flags.library !== undefined && tapes.length !== 1)
        throw new UsageError(`Cannot restore ${tapes.length} volsers with --library: give the volser of one backup set`);
      const result = await withTapeOf(tapes[0] as string, flags, (path, loaded) => ({
        ...withBar(bar, () =>
          restoreChain(flags.library === undefined ? tapes : [path], {
            to: flags.to,
            dataset: flags.dataset,
            rename: flags.rename,
            replace: flags.replace,
            newVolume: flags.newVolume,
            type: flags.type,
            cylinders: flags.cyls !== undefined ? parseCount(flags.cyls, '--cyls') : undefined,
            force: flags.force,
            tapeStartBlock: flags.fbaBlock !== undefined ? parseCount(flags.fbaBlock, '--fba-block') : undefined,
            tapeIndex: loaded?.tapeIndex,
            onProgress: (p) => bar.update(p),
          }),
        ),
        // A restore from vaulted cartridges says what it fetched, beside what the cartridges hold.
        ...(loaded?.bytesFetched === undefined ? {} : { vault: { bytesFetched: loaded.bytesFetched, cartridgeBytes: loaded.cartridgeBytes ?? 0 } }),
      }));
      printResult(
        result,
        () =>
          [
            `Restored ${tape} to ${result.to}${result.newVolume ? ' (new volume)' : ''}:`,
            ...result.elements.map((e) => `  ${e.name.padEnd(44)} ${e.unitsWritten} units, ${e.digest.toLowerCase()} ${e.sha256} verified`),
            ...result.incrementals.map(
              (inc) => `  then ${inc.path}: ${inc.elements.reduce((n, e) => n + e.unitsWritten, 0)} units in ${inc.elements.length} run(s), verified`,
            ),
            ...(result.vault === undefined
              ? []
              : [`  fetched ${result.vault.bytesFetched} bytes from the vault by ranged reads (the vaulted cartridges hold ${result.vault.cartridgeBytes})`]),
          ].join('\n'),
        flags,
      );
    });
  program
    .command('verify <tapes...>')
    .description("check a backup tape without restoring it: structure, labels and each element's SHA-256")
    .option('--fba-block <n>', 'the tape is on the FBA volume <tape> from block N')
    .option(
      '--chain',
      "the tapes are a chain (a full backup, then its incrementals): check each, that each link's base is the tape before it, and that each incremental is what its restore accepts",
    )
    .option('--json', 'machine-readable output')
    .option('--library <dir>', '<tape> is the volser of a cartridge in this tape library (a multi-volume set is read in order)')
    .option('--catalog <file>', 'catalog of the library (default $SNAPTAPE_CATALOG or ./snaptape.db)')
    .action(async (tapes: string[], flags: { json?: boolean; fbaBlock?: string; chain?: boolean; library?: string; catalog?: string }) => {
      if (flags.chain) return verifyChainCommand(tapes, flags);
      if (tapes.length !== 1) throw new UsageError(`Cannot verify ${tapes.length} tapes at once: give one, or a chain with --chain`);
      const tape = tapes[0] as string;
      if (flags.library !== undefined && (await hasVaultedCartridges(flags.library, tape, { catalog: catalogPath(flags.catalog) })))
        return verifyVaultedCommand(flags.library, tape, flags);
      const bar = phaseProgressBar(flags.json);
      const report = await withTapeOf(tape, flags, (path) =>
        withBar(bar, () =>
          verifyBackupTape(path, {
            startBlock: flags.fbaBlock !== undefined ? parseCount(flags.fbaBlock, '--fba-block') : undefined,
            onProgress: (p) => bar.update(p),
          }),
        ),
      );
      printResult(
        report,
        () =>
          [
            `${tape}: tape ${report.volser}, source ${report.source.typeName} ${report.source.volser}: ${report.ok ? 'OK' : 'FAILED'}`,
            ...report.elements.map(
              (e) =>
                `  ${e.ok ? 'ok ' : 'BAD'} ${e.name.padEnd(44)} ${e.blocks} blocks ${e.bytes} bytes ${e.digest.toLowerCase()} ${e.sha256}${e.ok ? '' : ` (tape records ${e.recorded})`}`,
            ),
            ...report.labels.map((l) =>
              l.recorded === undefined
                ? `  --  ${l.name.padEnd(44)} labels not covered: the tape records no label digest (UTL2)`
                : l.trailers !== undefined
                  ? `  BAD ${l.name.padEnd(44)} trailer labels: ${l.trailers}`
                  : `  ${l.ok ? 'ok ' : 'BAD'} ${l.name.padEnd(44)} labels ${l.labels} sha256 ${l.sha256}${l.ok ? '' : ` (tape records ${l.recorded})`}`,
            ),
          ].join('\n'),
        flags,
      );
      // The report is the one JSON document; a failure adds only its line on stderr and the status.
      const badLabels = report.labels.find((l) => !l.ok);
      if (badLabels) process.exitCode = reportFailureAfterResult(labelMismatchError('verify', tape, badLabels));
      else if (!report.ok) {
        const bad = report.elements.find((e) => !e.ok);
        process.exitCode = reportFailureAfterResult(new VerifyError(`Cannot verify ${tape}: ${bad?.name} does not match its recorded SHA-256`, { path: tape }));
      }
    });
}

/** verify --library of a set with vaulted cartridges: each read in place, from its object or its file. */
async function verifyVaultedCommand(library: string, volser: string, flags: { json?: boolean; catalog?: string }): Promise<void> {
  const report = await verifyVaultedSet(library, volser, { catalog: catalogPath(flags.catalog) });
  printResult(
    report,
    () =>
      [
        `${report.volser}: backup set of ${report.cartridges.length} cartridge(s): ${report.ok ? 'OK' : 'FAILED'}`,
        ...report.cartridges.map(
          (c) =>
            `  ${c.ok ? 'ok ' : 'BAD'} ${c.volser} ${c.location.padEnd(8)} sha256 ${c.sha256}${c.ok ? '' : ` (recorded ${c.recorded ?? 'none'})`} from ${c.read}`,
        ),
      ].join('\n'),
    flags,
  );
  const bad = report.cartridges.find((c) => !c.ok);
  if (bad)
    process.exitCode = reportFailureAfterResult(
      new VerifyError(`Cannot verify ${bad.volser}: its bytes in ${bad.read} do not match the SHA-256 recorded when it was written`, { volser: bad.volser }),
    );
}

function verifyChainCommand(tapes: string[], flags: { json?: boolean; fbaBlock?: string }): void {
  if (flags.fbaBlock !== undefined) throw new UsageError('Cannot use --fba-block with --chain: a chain is of tape files');
  const report: ChainVerifyReport = verifyChain(tapes);
  printResult(
    report,
    () =>
      [
        `chain of ${tapes.length} tape(s): ${report.ok ? 'OK' : 'FAILED'}`,
        ...report.tapes.map((t, i) => {
          const l = t.link;
          const role = l.base ? `incremental since ${l.base.checkpoint}` : i === 0 ? 'full' : 'not an incremental';
          const state = !t.ok ? 'BAD (its elements or labels do not verify)' : l.problem ? `BAD link: ${l.problem}` : 'ok';
          return `  ${t.path}: tape ${t.volser}, ${role}, checkpoint ${l.checkpoint ?? '(none)'}, sha256 ${l.sha256}: ${state}`;
        }),
      ].join('\n'),
    flags,
  );
  const bad = report.tapes.find((t) => !t.ok || t.link.problem !== null);
  if (bad) {
    process.exitCode = reportFailureAfterResult(
      new VerifyError(`Cannot verify the chain: ${bad.path}: ${bad.link.problem ?? 'its elements or labels do not verify'}`, { path: bad.path }),
    );
  }
}
