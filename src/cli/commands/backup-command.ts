/**
 * `snaptape backup <image> --to <tape>`: a point-in-time backup to a virtual tape while the volume
 * stays writable (with `--load`, a synthetic host writer runs during the backup). The load writes
 * into a scratch copy of the image, as a drill does, and the tape is of that copy: the user's volume
 * is never written by surprise. `--load-in-place` loads the real source instead.
 */
import { copyFileSync, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { translateIoError } from '../../errors/io-error.js';
import {
  backupToLibrary,
  catalogPath,
  type LibraryBackupRun,
  withInjectedVolumeAsync,
  parseFaultPlan,
  runBackup,
  type BackupRun,
  ControlClient,
  parseControlEndpoint,
  type BackupProgress,
  type BackupSummary,
  createEventLogger,
  parseLoadSpec,
  type BlockRange,
  makeScratchCopy,
  writeReport,
  LocalEventWriter,
  type TrackMapSnapshot,
} from '../../api/index.js';
import { resolve } from 'node:path';
import { SessionError, UsageError } from '../../errors/snaptape-error.js';
import { parseCount, parsePositiveNumber, printResult } from '../cli-output.js';
import { backupProgressBar } from '../progress-bar.js';

interface BackupFlags {
  to?: string;
  toLibrary?: string;
  pool?: string;
  catalog?: string;
  datasets?: string[];
  blocks?: string[];
  workers?: string;
  pauseAfter?: string;
  pauseMs?: string;
  throttleMbps?: string;
  load?: string;
  loadInPlace?: boolean;
  seed: string;
  force?: boolean;
  tapeVolser?: string;
  onCbwError: string;
  cbwTimeout?: string;
  logLevel?: string;
  logFile?: string;
  resume?: boolean;
  referenceCopy?: string;
  server?: string;
  toFbaBlock?: string;
  json?: boolean;
  inject?: string;
  injectTape?: string;
  report?: string;
  events?: boolean;
  spool?: string;
  targetMbps?: string;
  incremental?: boolean;
  since?: string;
}

function parseBlockRange(text: string): BlockRange {
  const match = /^(\d+):(\d+)$/.exec(text);
  if (!match) throw new UsageError(`Cannot use block range "${text}": expected FIRST:COUNT`);
  return { firstBlock: Number(match[1]), blockCount: Number(match[2]) };
}

export function formatBackupRun(run: BackupRun): string {
  const s = run.summary;
  const lines = [
    `Backup of ${s.source.path} (${s.source.typeName} ${s.source.volser}) to ${s.tapePath}: completed in ${s.seconds.toFixed(2)} s`,
    `  ${s.elements.length} element(s); copied in order ${s.copiedInOrder}, out of order ${s.copiedOutOfOrder}; ${(s.bytes / 1e6).toFixed(1)} MB at ${s.mbPerSecond.toFixed(1)} MB/s; tape ${s.tapeBytes} bytes, its ${s.verification.entryCount} blocks and tapemarks read back: every header and label checked against the plan, every data block hashed from the tape into its element's digest`,
    ...s.elements.map(
      (e) => `  ${e.name.padEnd(44)} ${String(e.blocks).padStart(7)} blocks ${String(e.bytes).padStart(12)} bytes  ${e.digest.toLowerCase()} ${e.sha256}`,
    ),
  ];
  if (s.chain?.base)
    lines.push(
      `  incremental: the units changed since checkpoint ${s.chain.base.checkpoint} (base tape ${s.chain.base.volser}, sha256 ${s.chain.base.sha256})`,
    );
  if (s.chain) lines.push(`  checkpoint ${s.chain.checkpoint} set at the start instant${s.tapeSha256 ? `; tape sha256 ${s.tapeSha256}` : ''}`);
  if (s.sizeTable?.startsWith('rebuilt')) lines.push(`  size table ${s.sizeTable}`);
  if (s.spool) lines.push(`  spool ${s.spool.path}: ${(s.spool.bytesSpooled / 1e6).toFixed(1)} MB went through it (removed now the tape is complete)`);
  if (s.cbwError) lines.push(`  copy-before-write failed ${s.cbwError.count} time(s) (policy ${s.cbwError.policy}, latched): ${s.cbwError.reason}`);
  if (run.load)
    lines.push(
      `  host writes during the backup: ${run.load.writes} (${run.load.ratePerSecond.toFixed(0)}/s), latency p50 ${run.load.latencyP50Us.toFixed(1)} µs, p99 ${run.load.latencyP99Us.toFixed(1)} µs (corrected for coordinated omission: p99 ${run.load.correctedP99Us.toFixed(1)} µs, max ${run.load.correctedMaxUs.toFixed(0)} µs)`,
    );
  return lines.join('\n');
}

/**
 * `--since` for the daemon: a tape file named relative to this directory goes as its absolute path
 * (the daemon has its own working directory); anything else is a checkpoint name, sent as given.
 */
function sinceOnServer(since: string | undefined): string | undefined {
  return since !== undefined && existsSync(since) ? resolve(since) : since;
}

/** `--server`: the daemon owns the volume; the session is started and followed over its control API. */
async function backupOnServer(volumeName: string, flags: BackupFlags): Promise<void> {
  for (const local of ['load', 'loadInPlace', 'resume', 'referenceCopy', 'blocks', 'toFbaBlock', 'inject', 'injectTape', 'report', 'events'] as const) {
    if (flags[local] !== undefined)
      throw new UsageError(`Cannot use --${local.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} with --server: the daemon runs the backup`);
  }
  const client = new ControlClient(parseControlEndpoint(flags.server as string));
  const bar = backupProgressBar(!flags.json, 'units');
  try {
    const started = await client.startSession({
      type: 'backup',
      volume: volumeName,
      tape: resolve(flags.to ?? ''),
      datasets: flags.datasets,
      workers: flags.workers !== undefined ? parseCount(flags.workers, '--workers') : undefined,
      pauseAfter: flags.pauseAfter !== undefined ? parseCount(flags.pauseAfter, '--pause-after') : undefined,
      pauseMs: flags.pauseMs !== undefined ? parseCount(flags.pauseMs, '--pause-ms') : undefined,
      throttleMbps: flags.throttleMbps !== undefined ? parsePositiveNumber(flags.throttleMbps, '--throttle-mbps') : undefined,
      force: flags.force,
      tapeVolser: flags.tapeVolser,
      onCbwError: cbwPolicy(flags.onCbwError),
      cbwTimeoutMs: flags.cbwTimeout !== undefined ? parseCount(flags.cbwTimeout, '--cbw-timeout') : undefined,
      spool: flags.spool !== undefined ? resolve(flags.spool) : undefined,
      targetMbps: flags.targetMbps !== undefined ? parsePositiveNumber(flags.targetMbps, '--target-mbps') : undefined,
      incremental: flags.incremental,
      since: sinceOnServer(flags.since),
    });
    const finished = await client.waitForSession(started.id, (info) => {
      if (info.progress) bar.update(info.progress as unknown as BackupProgress);
    });
    bar.stop();
    if (finished.state !== 'completed') {
      throw new SessionError(
        `Cannot complete the backup of ${volumeName} on ${flags.server}: session ${finished.id} is ${finished.state}${finished.error ? `: ${finished.error.message}` : ''}`,
        { session: finished.id },
      );
    }
    const run: BackupRun = { summary: finished.summary as BackupSummary, load: null };
    printResult({ session: finished.id, ...run }, () => `session ${finished.id} on ${flags.server}\n${formatBackupRun(run)}`, flags);
  } finally {
    bar.stop();
  }
}

/** Exactly one of --to and --to-library; a library chooses the cartridge, its volser and when it may be overwritten. */
function checkTarget(flags: BackupFlags): void {
  if ((flags.to === undefined) === (flags.toLibrary === undefined))
    throw new UsageError('Cannot back up: give exactly one of --to <tape> and --to-library <dir>');
  if (flags.toLibrary === undefined) {
    if (flags.pool !== undefined) throw new UsageError('Cannot use --pool without --to-library');
    return;
  }
  for (const alone of ['toFbaBlock', 'tapeVolser', 'force', 'resume', 'server'] as const) {
    if (flags[alone] !== undefined)
      throw new UsageError(
        `Cannot use --${alone.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} with --to-library: the library picks and overwrites the cartridge`,
      );
  }
}

function formatLibraryLines(run: BackupRun): string[] {
  if (!('setId' in run)) return [];
  const library = run as LibraryBackupRun;
  return [
    `  library ${library.library}, pool ${library.pool}: ${library.cartridges.length} cartridge(s), now private until ${library.cartridges[0]?.expiresAt ?? '?'}`,
    ...library.cartridges.map(
      (c) => `    ${c.barcode.padEnd(9)} volume ${c.setSequence ?? 1} of ${library.cartridges.length}${c.worm ? ', WORM' : ''}, sha256 ${c.sha256 ?? ''}`,
    ),
  ];
}

/** The reference copy is made synchronously right before the session registers: the same instant. */
function copyReference(image: string, path: string): void {
  try {
    copyFileSync(image, path);
  } catch (error) {
    throw translateIoError(error, `copy ${image} to ${path}`, path);
  }
}

function cbwPolicy(text: string): 'break-backup' | 'break-host-write' {
  if (text === 'break-backup' || text === 'break-host-write') return text;
  throw new UsageError(`Cannot use --on-cbw-error ${text}: expected break-backup or break-host-write`);
}

export function registerBackup(program: Command): void {
  program
    .command('backup <image>')
    .description('point-in-time backup of a live volume to a virtual tape')
    .option('--to <tape>', 'the tape file to write (AWSTAPE), or with --to-fba-block the FBA volume to write it onto')
    .option(
      '--to-library <dir>',
      'write the tape onto scratch cartridges of this tape library (more than one if it outgrows a cartridge), which become private',
    )
    .option('--pool <name>', 'with --to-library: the pool whose scratch cartridges are taken (default DEFAULT)')
    .option('--catalog <file>', 'with --to-library: the catalog of the library (default $SNAPTAPE_CATALOG or ./snaptape.db)')
    .option('--to-fba-block <n>', 'write the tape onto the FBA volume named by --to, from block N')
    .option('--datasets <patterns...>', 'data set name patterns (PROD.**, *.DATA); default: the whole volume')
    .option('--blocks <ranges...>', 'FBA block ranges FIRST:COUNT; default: the whole volume')
    .option('--workers <n>', 'copy worker threads (default: one less than the cores, at least 1: a thread beside them hashes the tape)')
    .option('--pause-after <m>', 'pause the whole copy after every M units copied')
    .option('--pause-ms <ms>', 'length of that pause', '5')
    .option('--throttle-mbps <x>', 'cap the copy rate in MB/s')
    .option(
      '--load <spec>',
      'run a synthetic host writer meanwhile: random:RATE (writes per second); it writes into a scratch copy of the image, which is what is backed up, and the image is not written',
    )
    .option('--load-in-place', 'let --load write into the image itself: DESTROYS the data it overwrites (random bytes in random tracks)')
    .option('--seed <n>', 'seed of the synthetic load', '1')
    .option('--tape-volser <volser>', 'volume serial of the tape (default: T + the source volser)')
    .option('--on-cbw-error <policy>', 'break-backup (default) or break-host-write', 'break-backup')
    .option('--cbw-timeout <ms>', 'longest a host write waits for its track to be copied')
    .option('--force', 'replace an existing tape or other regular file (never a volume image, a locked file, a folder, a FIFO or a device)')
    .option('--reference-copy <path>', 'copy the source image to PATH at the start instant (to compare a restore with)')
    .option('--server <socket>', 'run on a `snaptape serve` daemon (unix socket or 127.0.0.1:PORT; token in $SNAPTAPE_TOKEN): <image> is then its export name')
    .option(
      '--resume',
      'continue an interrupted or crashed backup to the same tape and point in time (refused if the source was written since by anyone but the session)',
    )
    .option('--log-level <level>', 'log to stderr at this level (debug, info, warn)')
    .option('--log-file <path>', 'log to this file')
    .option('--json', 'machine-readable output')
    .option('--report <out.html>', 'write a self-contained HTML report (track map, timings, SHA-256s)')
    .option('--events', 'print newline-delimited JSON progress events on stdout instead of the progress bar and summary')
    .option('--inject <spec>', 'inject faults into the source volume, e.g. write:3:EIO,latency:read:5ms (src/image/fault-plan.ts)')
    .option(
      '--spool <file>',
      'copy-before-write puts old tracks into this fast local file, and a drain moves them to the tape: host writes then do not wait for a slow target (removed when the tape is complete)',
    )
    .option('--target-mbps <rate>', 'emulate a tape target that takes at most RATE MB/s (experiments with slow targets)')
    .option('--incremental', "copy only the tracks changed since the last complete backup's checkpoint (the volume needs `snaptape track`)")
    .option('--since <checkpoint|tape>', 'copy only the tracks changed since this checkpoint, or since the backup on this tape (a differential)')
    .option('--inject-tape <spec>', 'inject faults into the tape writes of this thread (copy-before-write copies), same syntax')
    .action(async (image: string, flags: BackupFlags) => {
      checkTarget(flags);
      if (flags.server) return backupOnServer(image, flags);
      if (flags.loadInPlace && !flags.load) throw new UsageError('Cannot use --load-in-place without --load');
      if (flags.load && flags.resume && !flags.loadInPlace) {
        throw new UsageError('Cannot use --resume with --load: the load wrote into a scratch copy that is gone (--load-in-place loads the image itself)');
      }
      const scratch = flags.load && !flags.loadInPlace ? makeScratchCopy(image) : undefined;
      const source = scratch?.path ?? image;
      const logs = createEventLogger({ level: flags.logLevel, file: flags.logFile });
      const bar = backupProgressBar(!flags.json && !flags.events, 'units');
      const target = flags.to ?? flags.toLibrary ?? '';
      const events = flags.events ? new LocalEventWriter({ volume: image, target }) : undefined;
      let lastProgress: BackupProgress | undefined;
      let trackMap: TrackMapSnapshot | undefined;
      let cancel: (() => void) | undefined;
      // Ctrl-C stops the copy and persists the bitmap, so that --resume can continue it.
      const onSignal = (): void => cancel?.();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const runTo = (tapePath: string, tapeVolser: string | undefined, force: boolean | undefined): Promise<BackupRun> =>
          withInjectedVolumeAsync(source, flags.inject, (volume) =>
            runBackup(volume, {
              tapePath,
              tapeStartBlock: flags.toFbaBlock !== undefined ? parseCount(flags.toFbaBlock, '--to-fba-block') : undefined,
              datasets: flags.datasets,
              blockRanges: flags.blocks?.map(parseBlockRange),
              workers: flags.workers !== undefined ? parseCount(flags.workers, '--workers') : undefined,
              pauseAfter: flags.pauseAfter !== undefined ? parseCount(flags.pauseAfter, '--pause-after') : undefined,
              pauseMs: parseCount(flags.pauseMs ?? '5', '--pause-ms'),
              throttleMbps: flags.throttleMbps !== undefined ? parsePositiveNumber(flags.throttleMbps, '--throttle-mbps') : undefined,
              force,
              tapeVolser,
              onCbwError: cbwPolicy(flags.onCbwError),
              cbwTimeoutMs: flags.cbwTimeout !== undefined ? parseCount(flags.cbwTimeout, '--cbw-timeout') : undefined,
              tapeFaults: flags.injectTape !== undefined ? parseFaultPlan(flags.injectTape, '--inject-tape') : undefined,
              spoolPath: flags.spool,
              targetMbps: flags.targetMbps !== undefined ? parsePositiveNumber(flags.targetMbps, '--target-mbps') : undefined,
              incremental: flags.incremental,
              since: flags.since,
              load: flags.load ? parseLoadSpec(flags.load) : undefined,
              loadSeed: parseCount(flags.seed, '--seed'),
              onProgress: (p) => {
                lastProgress = p;
                bar.update(p);
                events?.progress(p);
              },
              onTrackMap: (map) => {
                trackMap = map;
              },
              log: logs.log,
              resume: flags.resume,
              onStartInstant: flags.referenceCopy ? () => copyReference(source, flags.referenceCopy as string) : undefined,
              onSession: (session) => {
                cancel = () => {
                  if (session.state === 'running' || session.state === 'paused') session.cancel();
                };
              },
            }),
          ).catch((error: unknown) => {
            if (cancel && error instanceof SessionError && /cancelled/.test(error.message)) {
              throw new SessionError(`Cannot complete the backup to ${tapePath}: it was interrupted; its progress is saved, continue it with --resume`, {
                tape: tapePath,
              });
            }
            if (events && lastProgress)
              events.end(lastProgress, {
                error: { code: error instanceof SessionError ? error.code : 'INTERNAL', message: error instanceof Error ? error.message : String(error) },
              });
            throw error;
          });
        const ran = flags.toLibrary
          ? await backupToLibrary(flags.toLibrary, { catalog: catalogPath(flags.catalog), pool: flags.pool }, (t) => runTo(t.tapePath, t.tapeVolser, true))
          : await runTo(target, flags.tapeVolser, flags.force);
        // A scratch copy is the image at the start instant: the summary names the image the user gave.
        const run: BackupRun = scratch ? { ...ran, summary: { ...ran.summary, source: { ...ran.summary.source, path: image } } } : ran;
        bar.stop();
        if (flags.report) writeReport(flags.report, { title: `Backup of ${image} to ${target}`, backup: run, map: trackMap });
        if (events && lastProgress) events.end(lastProgress, { summary: run.summary });
        else if (scratch)
          printResult(
            { ...run, loadedScratchCopyOf: image },
            () =>
              [formatBackupRun(run), ...formatLibraryLines(run)].join('\n') +
              `\n  the load wrote into a scratch copy of ${image} (removed): ${image} is unchanged`,
            flags,
          );
        else printResult(run, () => [formatBackupRun(run), ...formatLibraryLines(run)].join('\n'), flags);
      } finally {
        scratch?.remove();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        bar.stop();
        logs.flush();
      }
    });
}
