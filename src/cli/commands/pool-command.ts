/**
 * `snaptape pool create|add|remove|ls` (issue 9, Build 5): the pool directory of the catalog.
 * Source pools hold the volumes a version copies; target pools "01", "02" ... hold the targets,
 * each entered with the copy technology it takes. A join or leave updates the pre-pairing records
 * of its pool, and says what it changed in them.
 */
import type { Command } from 'commander';
import {
  createPool,
  joinPool,
  leavePool,
  listPools,
  listVolumes,
  parseTechnology,
  volumeFacts,
  type PoolRole,
  type PprChange,
  catalogPath,
  withCatalog,
} from '../../api/index.js';
import { UsageError } from '../../errors/snaptape-error.js';
import { resolve } from 'node:path';
import { printResult } from '../cli-output.js';

interface PoolFlags {
  catalog?: string;
  json?: boolean;
  role?: string;
  technology?: string;
}

function describeChange(change: PprChange): string {
  return `notification: ${change.message}`;
}

function parseRole(value: string | undefined): PoolRole {
  if (value === 'source' || value === 'target') return value;
  throw new UsageError(`Cannot create a pool with role "${value ?? ''}": use --role source or --role target`);
}

export function registerPool(program: Command): void {
  const group = program.command('pool').description('source and target pools of copy versions, in the catalog');
  group
    .command('create <name>')
    .description('create a pool (target pools are named 01, 02, ...)')
    .requiredOption('--role <role>', 'source or target')
    .option('--catalog <file>', 'catalog file (default $SNAPTAPE_CATALOG or ./snaptape.db)')
    .option('--json', 'machine-readable output')
    .action(async (name: string, flags: PoolFlags) => {
      const role = parseRole(flags.role);
      await withCatalog(catalogPath(flags.catalog), (catalog) => createPool(catalog, name, role));
      printResult({ name, role }, () => `pool ${name} (${role}) created`, flags);
    });
  group
    .command('add <pool> <volumes...>')
    .description('add volumes to a pool (and to the volume inventory)')
    .option('--technology <t>', 'copy technology a target takes: tape, clone or snapshot')
    .option('--catalog <file>', 'catalog file')
    .option('--json', 'machine-readable output')
    .action(async (pool: string, volumes: string[], flags: PoolFlags) => {
      const technology = flags.technology === undefined ? null : parseTechnology(flags.technology);
      const facts = volumes.map(volumeFacts);
      const pprChanges = await withCatalog(catalogPath(flags.catalog), (catalog) => facts.flatMap((f) => joinPool(catalog, pool, f, technology)));
      printResult(
        { pool, added: facts.map((f) => f.path), pprChanges },
        () => [...facts.map((f) => `${f.path} added to pool ${pool}`), ...pprChanges.map(describeChange)].join('\n'),
        flags,
      );
    });
  group
    .command('remove <pool> <volume>')
    .description('remove a volume from a pool; a target is freed at once, and the next version re-pairs its source')
    .option('--catalog <file>', 'catalog file')
    .option('--json', 'machine-readable output')
    .action(async (pool: string, volume: string, flags: PoolFlags) => {
      const pprChanges = await withCatalog(catalogPath(flags.catalog), (catalog) => leavePool(catalog, pool, resolve(volume)));
      printResult(
        { pool, removed: resolve(volume), pprChanges },
        () => [`${resolve(volume)} removed from pool ${pool}`, ...pprChanges.map(describeChange)].join('\n'),
        flags,
      );
    });
  group
    .command('ls')
    .description('list the pools, their members and the volume inventory')
    .option('--catalog <file>', 'catalog file')
    .option('--json', 'machine-readable output')
    .action(async (flags: PoolFlags) => {
      const result = await withCatalog(catalogPath(flags.catalog), (catalog) => ({ pools: listPools(catalog.db), volumes: listVolumes(catalog.db) }));
      printResult(result, () => result.pools.map((p) => `${p.name} ${p.role}: ${p.members.join(' ') || '(empty)'}`).join('\n'), flags);
    });
}
