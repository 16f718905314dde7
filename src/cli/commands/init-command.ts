/** `snaptape init <image> --type 3390-3 --volser SRC001`: makes a new, sparse volume. */
import type { Command } from 'commander';
import { createVolume, createMappedVolume } from '../../api/index.js';
import { parseCount, printResult } from '../cli-output.js';
import { parseImageFormat } from './image-format-options.js';
import { phaseProgressBar, withBar } from '../progress-bar.js';

interface InitFlags {
  type: string;
  volser: string;
  cyls?: string;
  blocks?: string;
  owner?: string;
  vtocTracks?: string;
  vtoc: boolean;
  force?: boolean;
  json?: boolean;
  format: string;
  compress?: string;
  mapped?: boolean;
}

export function registerInit(program: Command): void {
  program
    .command('init <image>')
    .description('create a new sparse volume image (Hercules CKD or FBA)')
    .requiredOption('--type <type>', 'device type: 3390-1/2/3/9/27/54, 3380-J/E/K, 3390 or 3380 with --cyls, fba with --blocks')
    .requiredOption('--volser <volser>', 'volume serial (1-6 characters)')
    .option('--cyls <n>', 'cylinder count (custom size, or to override a model)')
    .option('--blocks <n>', 'block count of an FBA volume')
    .option('--owner <owner>', 'owner id in VOL1')
    .option('--vtoc-tracks <n>', 'tracks of VTOC after track 0 (default: 1 on small volumes, 14 on large ones)')
    .option('--no-vtoc', 'write no VTOC, exactly as Hercules dasdinit does')
    .option('--format <format>', 'ckd (uncompressed Hercules image) or cckd (compressed)', 'ckd')
    .option('--compress <method>', 'compression of a cckd image: zlib, bzip2 or none (default zlib)')
    .option('--force', 'replace an existing file')
    .option('--json', 'machine-readable output')
    .option('--mapped', "a mapped volume <subsystem-dir>/<name>: a track directory over the subsystem's pool")
    .action((image: string, flags: InitFlags) => {
      const vtocTracks = !flags.vtoc ? 0 : flags.vtocTracks !== undefined ? parseCount(flags.vtocTracks, '--vtoc-tracks') : undefined;
      const { format, compression } = parseImageFormat(flags.format, flags.compress);
      const options = {
        ...(format === 'cckd' ? { format, compression } : {}),
        type: flags.type,
        volser: flags.volser,
        cylinders: flags.cyls !== undefined ? parseCount(flags.cyls, '--cyls') : undefined,
        blocks: flags.blocks !== undefined ? parseCount(flags.blocks, '--blocks') : undefined,
        owner: flags.owner,
        vtocTracks,
        force: flags.force,
      };
      // A mapped volume is a track directory, made at once; an image file writes every empty track.
      const bar = phaseProgressBar(flags.json);
      const volume = flags.mapped
        ? createMappedVolume(image, options)
        : withBar(bar, () => createVolume(image, { ...options, onProgress: (p) => bar.update(p) }));
      const g = volume.geometry;
      const result = { image, deviceType: g.typeName, volser: flags.volser.toUpperCase(), units: volume.unitCount, unit: g.kind === 'ckd' ? 'track' : 'block' };
      volume.close();
      printResult(result, () => `${image}: ${result.deviceType} volume ${result.volser}, ${result.units} ${result.unit}s`, flags);
    });
}
