/**
 * `snaptape convert <in> <out> --format ckd|cckd [--compress zlib|bzip2|none]`: a CKD volume into an
 * uncompressed Hercules image or a compressed CCKD image (image-convert.ts), with a progress bar.
 */
import type { Command } from 'commander';
import { convertImage } from '../../api/index.js';
import { printResult } from '../cli-output.js';
import { phaseProgressBar } from '../progress-bar.js';
import { parseImageFormat } from './image-format-options.js';

interface ConvertFlags {
  format: string;
  compress?: string;
  shadow?: string[];
  force?: boolean;
  json?: boolean;
}

export function registerConvert(program: Command): void {
  program
    .command('convert <input> <output>')
    .description('convert a CKD volume between uncompressed (ckd) and compressed (cckd) Hercules images')
    .requiredOption('--format <format>', 'ckd or cckd')
    .option('--compress <method>', 'compression of a cckd output: zlib (default), bzip2 or none')
    .option('--shadow <file...>', 'shadow files over a cckd input, oldest first (the output holds the newest data)')
    .option('--force', 'replace an existing output file')
    .option('--json', 'machine-readable output')
    .action((input: string, output: string, flags: ConvertFlags) => {
      const { format, compression } = parseImageFormat(flags.format, flags.compress);
      const bar = phaseProgressBar(flags.json);
      try {
        const result = convertImage(input, output, {
          format,
          compression,
          force: flags.force,
          shadows: flags.shadow,
          onProgress: (done, total) => bar.update({ phase: 'copy', done, total, unit: 'tracks' }),
        });
        bar.stop();
        printResult(result, () => `${output}: ${result.tracks} tracks from ${input}, ${format}${result.compression ? ` (${result.compression})` : ''}`, flags);
      } finally {
        bar.stop();
      }
    });
}
