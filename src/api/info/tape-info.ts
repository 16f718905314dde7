/**
 * `info` of a tape: AWSTAPE or HET, its volser, files between tapemarks, blocks and bytes, and
 * whether its backup data sets carry the label digest (UTL2) that lets verify check their labels.
 */
import { LABEL_DIGEST_KEY } from '../../techniques/tape-backup/label-digest.js';
import { listTape } from '../../tape/list-tape.js';
import { diskBytes } from './image-info.js';

export interface TapeInfo {
  readonly kind: 'tape';
  readonly path: string;
  /** `het` when some block is stored compressed (its stored size differs from its data). */
  readonly format: 'awstape' | 'het';
  readonly labelled: boolean;
  readonly volser: string;
  /** Files between tapemarks, and the labelled data sets among them. */
  readonly files: number;
  readonly dataSets: number;
  readonly blocks: number;
  /** Data bytes, and bytes as stored (compressed on HET). */
  readonly bytes: number;
  readonly storedBytes: number;
  /** Data sets whose trailer labels carry the label digest, out of `dataSets`. */
  readonly labelDigest: { readonly dataSets: number; readonly of: number };
  readonly fileBytes: number;
  readonly allocatedBytes: number;
}

export function tapeInfo(path: string): TapeInfo {
  const listing = listTape(path);
  const blocks = listing.files.reduce((sum, f) => sum + f.blockCount, 0);
  const bytes = listing.files.reduce((sum, f) => sum + f.byteCount, 0);
  const storedBytes = listing.files.reduce((sum, f) => sum + f.storedBytes, 0);
  const digested = listing.dataSets.filter((d) => d.userTrailerLabels[1]?.startsWith(LABEL_DIGEST_KEY)).length;
  return {
    kind: 'tape',
    path,
    format: listing.files.some((f) => f.storedBytes !== f.byteCount) ? 'het' : 'awstape',
    labelled: listing.labelled,
    volser: listing.volser,
    files: listing.files.length,
    dataSets: listing.dataSets.length,
    blocks,
    bytes,
    storedBytes,
    labelDigest: { dataSets: digested, of: listing.dataSets.length },
    ...diskBytes([path]),
  };
}
