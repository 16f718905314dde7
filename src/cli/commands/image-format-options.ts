/** The `--format ckd|cckd` and `--compress zlib|bzip2|none` options of init and convert. */
import { UsageError } from '../../errors/snaptape-error.js';
import { CCKD_COMPRESSION, type CckdCompression } from '../../api/index.js';

export function parseImageFormat(format: string, compress: string | undefined): { format: 'ckd' | 'cckd'; compression: CckdCompression | undefined } {
  if (format !== 'ckd' && format !== 'cckd') throw new UsageError(`Cannot use --format ${format}: choose ckd or cckd`);
  if (compress === undefined) return { format, compression: undefined };
  if (format !== 'cckd') throw new UsageError(`Cannot use --compress ${compress} with --format ckd: only cckd images are compressed`);
  if (!(compress in CCKD_COMPRESSION)) throw new UsageError(`Cannot use --compress ${compress}: choose zlib, bzip2 or none`);
  return { format, compression: compress as CckdCompression };
}
