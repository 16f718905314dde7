/**
 * `snaptape library init|pool|ls|mount|unmount|eject|inject|expire`: a tape library of cartridges
 * (AWSTAPE files named by volser) in slots and drives, with volser-range pools, retention and WORM,
 * kept in the catalog beside the versions. Backups go to it with `backup --to-library`; `restore`
 * and `verify --library` read a cartridge by volser.
 */
import type { Command } from 'commander';
import {
  catalogPath,
  ejectCartridge,
  expireCartridges,
  initLibrary,
  injectCartridge,
  listLibrary,
  MEDIA_TYPES,
  mountCartridge,
  recallLibraryCartridge,
  setPool,
  unmountCartridge,
  vaultLibraryCartridge,
  withCatalog,
  type CartridgeRecord,
  type LibraryListing,
} from '../../api/index.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { parseCount, printResult } from '../cli-output.js';
import { phaseProgressBar } from '../progress-bar.js';

interface CommonFlags {
  catalog?: string;
  json?: boolean;
}

const CATALOG_HELP = 'catalog file (default $SNAPTAPE_CATALOG or ./snaptape.db)';

function whereIs(c: CartridgeRecord): string {
  if (c.location === 'drive') return `drive ${c.drive ?? '?'}`;
  if (c.location === 'slot') return `slot ${c.slot ?? '?'}`;
  return c.location;
}

function formatCartridge(c: CartridgeRecord): string {
  const held = c.state === 'private' ? ` until ${c.expiresAt ?? '?'}${c.setId ? ` set ${c.setId.slice(0, 8)} #${c.setSequence ?? 1}` : ''}` : '';
  return `  ${c.barcode.padEnd(9)} ${c.pool.padEnd(8)} ${c.state.padEnd(7)} ${whereIs(c).padEnd(9)}${c.worm ? ' WORM' : ''}${held}`;
}

function formatListing(listing: LibraryListing): string {
  const l = listing.library;
  return [
    `tape library ${l.path}: ${l.media} cartridges of ${l.capacityBytes} bytes, ${l.slots} slots, ${l.drives} drives`,
    ...listing.pools.map((p) => `  pool ${p.name}: ${p.firstVolser}-${p.lastVolser}, retention ${p.retentionDays} days${p.worm ? ', WORM' : ''}`),
    ...listing.cartridges.map(formatCartridge),
  ].join('\n');
}

function parseRange(text: string): { first: string; last: string } {
  const match = /^([A-Za-z0-9@#$]{1,6})-([A-Za-z0-9@#$]{1,6})$/.exec(text);
  if (!match) throw new UsageError(`Cannot use volser range "${text}": expected FIRST-LAST, e.g. A00010-A00019`);
  return { first: (match[1] as string).toUpperCase(), last: (match[2] as string).toUpperCase() };
}

export function registerLibrary(program: Command): void {
  const group = program.command('library').description('a tape library of cartridges in slots and drives, with pools, retention and WORM');
  group
    .command('init <dir>')
    .description('make a tape library: blank standard-labelled cartridges named by volser, in slots, with drives')
    .option('--cartridges <n>', 'cartridges to make', '8')
    .option('--prefix <p>', 'volser prefix; volsers are the prefix and a number, 6 characters (A → A00001)', 'A')
    .option('--media <type>', `cartridge type: ${MEDIA_TYPES.map((m) => `${m.name} (${m.capacityBytes / 1e6} MB)`).join(', ')}`, '3490E')
    .option('--capacity-bytes <n>', "override the media type's capacity (small values make tests span cartridges)")
    .option('--slots <n>', 'slots (default: the cartridge count)')
    .option('--drives <n>', 'drives', '2')
    .option('--retention-days <n>', 'retention of the DEFAULT pool', '30')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(
      async (
        dir: string,
        flags: CommonFlags & {
          cartridges: string;
          prefix: string;
          media: string;
          capacityBytes?: string;
          slots?: string;
          drives: string;
          retentionDays: string;
        },
      ) => {
        const listing = await withCatalog(catalogPath(flags.catalog), (catalog) =>
          initLibrary(catalog, dir, {
            cartridges: parseCount(flags.cartridges, '--cartridges'),
            prefix: flags.prefix,
            media: flags.media,
            capacityBytes: flags.capacityBytes !== undefined ? parseCount(flags.capacityBytes, '--capacity-bytes') : undefined,
            slots: flags.slots !== undefined ? parseCount(flags.slots, '--slots') : undefined,
            drives: parseCount(flags.drives, '--drives'),
            retentionDays: parseCount(flags.retentionDays, '--retention-days'),
          }),
        );
        printResult(listing, () => formatListing(listing), flags);
      },
    );
  group
    .command('pool <dir> <name>')
    .description('set a pool to a volser range, with its retention and WORM flag; its scratch cartridges join it')
    .requiredOption('--range <first-last>', 'volser range, e.g. A00005-A00008')
    .option('--retention-days <n>', 'days a written cartridge is kept private', '30')
    .option('--worm', 'write-once cartridges: never overwritten, appended to or truncated once written')
    .option('--storage-class <class>', 'S3 storage class its cartridges are vaulted in (STANDARD, GLACIER, DEEP_ARCHIVE…)')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(async (dir: string, name: string, flags: CommonFlags & { range: string; retentionDays: string; worm?: boolean; storageClass?: string }) => {
      const range = parseRange(flags.range);
      const pool = await withCatalog(catalogPath(flags.catalog), (catalog) =>
        setPool(catalog, dir, {
          name,
          firstVolser: range.first,
          lastVolser: range.last,
          retentionDays: parseCount(flags.retentionDays, '--retention-days'),
          worm: flags.worm ?? false,
          storageClass: flags.storageClass?.toUpperCase() ?? null,
        }),
      );
      printResult(
        pool,
        () =>
          `pool ${pool.name}: ${pool.firstVolser}-${pool.lastVolser}, retention ${pool.retentionDays} days${pool.worm ? ', WORM' : ''}${pool.storageClass === null ? '' : `, vaulted as ${pool.storageClass}`}`,
        flags,
      );
    });
  group
    .command('ls <dir>')
    .description('list the library: pools, and each cartridge with its barcode, pool, state, place, retention')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(async (dir: string, flags: CommonFlags) => {
      const listing = await withCatalog(catalogPath(flags.catalog), (catalog) => listLibrary(catalog, dir));
      printResult(listing, () => formatListing(listing), flags);
    });
  group
    .command('mount <dir> <volser>')
    .description('move a cartridge from its slot into a drive')
    .option('--drive <n>', 'the drive (default: the first free one)')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(async (dir: string, volser: string, flags: CommonFlags & { drive?: string }) => {
      const drive = flags.drive !== undefined ? parseCount(flags.drive, '--drive') : undefined;
      const c = await withCatalog(catalogPath(flags.catalog), (catalog) => mountCartridge(catalog, dir, volser, drive));
      printResult(c, () => `${c.volser} mounted in drive ${c.drive ?? '?'}: ${c.path}`, flags);
    });
  group
    .command('unmount <dir> <volser>')
    .description('move a cartridge from its drive back into its slot')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(async (dir: string, volser: string, flags: CommonFlags) => {
      const c = await withCatalog(catalogPath(flags.catalog), (catalog) => unmountCartridge(catalog, dir, volser));
      printResult(c, () => `${c.volser} back in slot ${c.slot ?? '?'}`, flags);
    });
  group
    .command('eject <dir> <volser>')
    .description('take a cartridge out of the library into a directory (its SHA-256 is kept: a private one comes back only unchanged)')
    .requiredOption('--to <dir>', 'where the cartridge file goes')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(async (dir: string, volser: string, flags: CommonFlags & { to: string }) => {
      const c = await withCatalog(catalogPath(flags.catalog), (catalog) => ejectCartridge(catalog, dir, volser, flags.to));
      printResult(c, () => `${c.volser} ejected to ${c.path} (sha256 ${c.sha256 ?? '?'})`, flags);
    });
  group
    .command('inject <dir> <tape>')
    .description('bring a standard-labelled tape into a free slot; its VOL1 volser names the cartridge')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(async (dir: string, tape: string, flags: CommonFlags) => {
      const c = await withCatalog(catalogPath(flags.catalog), (catalog) => injectCartridge(catalog, dir, tape));
      printResult(c, () => `${c.volser} injected into slot ${c.slot ?? '?'} (${c.state}, pool ${c.pool})`, flags);
    });
  group
    .command('vault <dir> <volser>')
    .description('upload a private cartridge to an S3 vault with its manifest (AWS endpoint, credentials and region from the usual settings)')
    .requiredOption('--to <url>', 's3://bucket/prefix; the cartridge becomes <prefix>/<VOLSER>.aws')
    .option('--remove-local', 'delete the local file once the uploaded object has been read back and matched')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(async (dir: string, volser: string, flags: CommonFlags & { to: string; removeLocal?: boolean }) => {
      const bar = phaseProgressBar(flags.json);
      const r = await vaultLibraryCartridge(dir, volser, flags.to, {
        catalog: catalogPath(flags.catalog),
        removeLocal: flags.removeLocal,
        onProgress: (done, total) => bar.update({ phase: 'copy', done, total, unit: 'bytes' }),
      }).finally(() => bar.stop());
      const { manifest: _manifest, ...shown } = r;
      printResult(
        shown,
        () =>
          `${r.volser} vaulted to ${r.url}: ${r.sizeBytes} bytes, sha256 ${r.sha256}, checked by ${r.verified}${r.objectLock === 'none' ? '' : `, Object Lock ${r.objectLock}`}${r.removedLocal ? '; local file removed' : ''}`,
        flags,
      );
    });
  group
    .command('recall <dir> <volser>')
    .description('download a vaulted cartridge back into its slot, checked against its manifest')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(async (dir: string, volser: string, flags: CommonFlags) => {
      const bar = phaseProgressBar(flags.json);
      const r = await recallLibraryCartridge(dir, volser, {
        catalog: catalogPath(flags.catalog),
        onProgress: (done, total) => bar.update({ phase: 'copy', done, total, unit: 'bytes' }),
      }).finally(() => bar.stop());
      printResult(
        r,
        () => `${r.cartridge.volser} recalled from ${r.url} into slot ${r.cartridge.slot ?? '?'}: ${r.sizeBytes} bytes, sha256 ${r.sha256}`,
        flags,
      );
    });
  group
    .command('expire <dir>')
    .description('return private cartridges whose retention has ended to scratch (WORM cartridges never return)')
    .option('--catalog <file>', CATALOG_HELP)
    .option('--json', 'machine-readable output')
    .action(async (dir: string, flags: CommonFlags) => {
      // Always the clock's now: a chosen time would let anyone end a retention early.
      const expired = await withCatalog(catalogPath(flags.catalog), (catalog) => expireCartridges(catalog, dir));
      printResult({ expired }, () => (expired.length === 0 ? 'no cartridge expired' : expired.map((c) => `${c.volser} returned to scratch`).join('\n')), flags);
    });
}
