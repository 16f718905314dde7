/**
 * `snaptape version prepair|create|ls|show|restore` (issue 9, Build 5). `ls` shows the versions, the
 * records and the target-selection notifications; `show` one version with its storage media and
 * backup data sets; `--json` prints the inventories as JSON.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import {
  createEventLogger,
  parseTechnology,
  getVersion,
  listBackupDatasets,
  listNotifications,
  listRecords,
  listStorageMedia,
  listVersions,
  catalogPath,
  withCatalog,
  createVersion,
  prepairVersion,
  restoreFromVersion,
  unprepairVersion,
} from '../../api/index.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { parseCount, printResult } from '../cli-output.js';
import { phaseProgressBar } from '../progress-bar.js';

interface VersionFlags {
  catalog?: string;
  json?: boolean;
  source?: string;
  pool?: string;
  number?: string;
  technology?: string;
  to?: string;
  volume?: string;
  newVolume?: boolean;
  force?: boolean;
  logLevel?: string;
  logFile?: string;
}

function required(value: string | undefined, option: string): string {
  if (value === undefined) throw new UsageError(`Cannot run the command: ${option} is required`);
  return value;
}

function withCommon(command: Command): Command {
  return command
    .option('--catalog <file>', 'catalog file (default $SNAPTAPE_CATALOG or ./snaptape.db)')
    .option('--log-level <level>', 'log to stderr at this level')
    .option('--log-file <path>', 'log to this file')
    .option('--json', 'machine-readable output');
}

export function registerVersion(program: Command): void {
  const group = program.command('version').description('copy versions of a source pool into rotating target pools');
  withCommon(group.command('prepair <version>').description('make the pre-pairing record of a future version'))
    .requiredOption('--source <pool>', 'source pool')
    .requiredOption('--pool <pool>', 'target pool')
    .option('--technology <t>', 'tape, clone or snapshot', 'tape')
    .action(async (version: string, flags: VersionFlags) => {
      const logs = createEventLogger({ level: flags.logLevel, file: flags.logFile });
      const ppr = await withCatalog(catalogPath(flags.catalog), (catalog) =>
        prepairVersion(catalog, {
          version: parseCount(version, '<version>'),
          sourcePool: required(flags.source, '--source'),
          targetPool: required(flags.pool, '--pool'),
          technology: parseTechnology(flags.technology ?? 'tape'),
          log: logs.log,
        }),
      ).finally(logs.flush);
      printResult(ppr, () => ppr.pairs.map((p) => `PPR ${ppr.version}: ${p.sourcePath} -> ${p.targetPath} (${p.technology})`).join('\n'), flags);
    });
  withCommon(group.command('unprepair <version>').description('drop the pre-pairing record of a future version, freeing its targets')).action(
    async (version: string, flags: VersionFlags) => {
      const ppr = await withCatalog(catalogPath(flags.catalog), (catalog) => unprepairVersion(catalog, parseCount(version, '<version>')));
      printResult(ppr, () => `PPR ${ppr.version} dropped (${ppr.pairs.length} pairs)`, flags);
    },
  );
  withCommon(group.command('create').description('make the next version: copy every source of the pool'))
    .requiredOption('--source <pool>', 'source pool')
    .requiredOption('--pool <pool>', 'target pool')
    // Not --version: commander's root program keeps that name for `snaptape --version`.
    .option('--number <n>', 'version number (default: the next one)')
    .option('--technology <t>', 'tape, clone or snapshot', 'tape')
    .action(async (flags: VersionFlags) => {
      const logs = createEventLogger({ level: flags.logLevel, file: flags.logFile });
      const bar = phaseProgressBar(flags.json);
      const result = await withCatalog(catalogPath(flags.catalog), (catalog) =>
        createVersion(catalog, {
          sourcePool: required(flags.source, '--source'),
          targetPool: required(flags.pool, '--pool'),
          version: flags.number === undefined ? undefined : parseCount(flags.number, '--number'),
          technology: parseTechnology(flags.technology ?? 'tape'),
          log: logs.log,
          onProgress: (p) => bar.update(p),
        }),
      ).finally(() => {
        bar.stop();
        logs.flush();
      });
      printResult(
        result,
        () => `version ${result.version} complete in pool ${result.targetPool} (${result.basis}, ${result.rr.pairs.length} pairs, instant ${result.instant})`,
        flags,
      );
    });
  withCommon(group.command('ls').description('versions, records and notifications')).action(async (flags: VersionFlags) => {
    const result = await withCatalog(catalogPath(flags.catalog), (catalog) => ({
      versions: listVersions(catalog.db),
      records: listRecords(catalog.db),
      notifications: listNotifications(catalog.db),
    }));
    printResult(
      result,
      () =>
        [
          ...result.versions.map((v) => `version ${v.version} ${v.state} pool ${v.targetPool} from ${v.basis}${v.instant ? ` at ${v.instant}` : ''}`),
          ...result.records.map((r) => `${r.kind} ${r.version} pool ${r.targetPool}: ${r.pairs.length} pairs`),
          ...result.notifications.map((n) => `notification ${n.at}: ${n.message}`),
        ].join('\n'),
      flags,
    );
  });
  withCommon(group.command('show <version>').description('one version: records, where each copy lives, backup data sets')).action(
    async (version: string, flags: VersionFlags) => {
      const n = parseCount(version, '<version>');
      const result = await withCatalog(catalogPath(flags.catalog), (catalog) => {
        const row = getVersion(catalog.db, n);
        if (!row) throw new UsageError(`Cannot show version ${n}: the catalog has no such version`);
        return {
          ...row,
          records: listRecords(catalog.db).filter((r) => r.version === n),
          storageMedia: listStorageMedia(catalog.db, n),
          backupDatasets: listBackupDatasets(catalog.db, n),
        };
      });
      printResult(
        result,
        () =>
          [
            `version ${result.version} ${result.state} pool ${result.targetPool}`,
            ...result.storageMedia.map((m) => `  ${m.sourcePath} -> ${m.technology} ${m.copyPath} at ${m.instant}`),
          ].join('\n'),
        flags,
      );
    },
  );
  withCommon(group.command('restore <version> [dataset]').description('restore a data set (or --volume, a whole source) from a version'))
    .requiredOption('--to <path>', 'volume to restore into (a new one with --new-volume)')
    .option('--volume <source>', 'restore this whole source volume instead of a data set')
    .option('--new-volume', 'create the volume named by --to')
    .option('--force', 'replace an existing file with --new-volume')
    .action(async (version: string, dataset: string | undefined, flags: VersionFlags) => {
      const bar = phaseProgressBar(flags.json);
      const result = await withCatalog(catalogPath(flags.catalog), (catalog) =>
        restoreFromVersion(catalog, {
          version: parseCount(version, '<version>'),
          dataset,
          sourcePath: flags.volume === undefined ? undefined : resolve(flags.volume),
          to: required(flags.to, '--to'),
          newVolume: flags.newVolume ?? flags.volume !== undefined,
          force: flags.force,
          onProgress: (p) => bar.update(p),
        }),
      ).finally(() => bar.stop());
      printResult(result, () => `restored ${result.restored.join(', ')} from ${result.technology} ${result.copyPath} to ${result.to}`, flags);
    });
}
