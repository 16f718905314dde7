/**
 * `snaptape check` of a volume image: what image/cckd-check.ts checks (a CCKD file's headers,
 * tables, free space and track images, as Hercules cckdcdsk does; every track slot of an
 * uncompressed CKD image decoding), plus the structural VTOC check of a CKD volume
 * (vtoc-check.ts). An FBA image has no tracks to decode and no VTOC we read: its shape is checked.
 *
 * Repair does only what cannot lose data, each only when the structure around it is sound:
 * - a CCKD file's free chain and space statistics, rebuilt from its L1/L2 tables (cckd-check.ts);
 * - the VTOC's summaries: the Format-5 free-space chain and the Format-4 counters (DS4DSREC,
 *   DS4HPCHR), rebuilt from the extents (vtoc-writer.ts refreshVtocSummary), when no extent lies
 *   outside the volume or overlaps another and every DSCB chain reads.
 * Table damage, undecodable tracks, VOL1 and Format-4 faults, broken chains, extents outside the
 * volume and overlaps are reported only: which copy or owner is right cannot be known.
 */
import type { OnPhaseProgress } from '../base/phase-progress.js';
import { statSync } from 'node:fs';
import { openVolume } from '../volume/open-volume.js';
import { FBA_BLOCK_BYTES } from '../geometry/device-types.js';
import { cchhOf } from '../geometry/cchh.js';
import { checkImage, type CheckReport as ImageFileReport } from '../image/cckd-check.js';
import type { CckdProblem } from '../image/cckd-analysis.js';
import { refreshVtocSummary } from '../vtoc/vtoc-writer.js';
import { problem, type CheckFindings, type CheckLocation, type CheckProblem } from './check-report.js';
import type { CheckTarget } from './check-target.js';
import { checkVtoc } from './vtoc-check.js';
import { VTOC_SUMMARY_KINDS } from './vtoc-space-check.js';

type ImageTarget = Extract<CheckTarget, { kind: 'image' }>;

/** CCKD problem kinds that make the file unreadable: no VTOC check on top of them. */
const UNREADABLE_KINDS: ReadonlySet<string> = new Set(['header', 'table']);
/** CCKD problem kinds that the free-space rebuild repairs. */
const CCKD_SPACE_KINDS: ReadonlySet<string> = new Set(['free-space', 'statistics']);

const FORMAT_NAMES: Readonly<Record<ImageTarget['format'], string>> = {
  ckd: 'a CKD image',
  'multi-file-ckd': 'a multi-file CKD volume',
  cckd: 'a compressed CCKD image',
  'cckd-shadow': 'a CCKD shadow file',
  fba: 'an FBA image',
};

function fileProblemOf(p: CckdProblem, report: ImageFileReport): CheckProblem {
  const parts: string[] = [];
  const location: { -readonly [K in keyof CheckLocation]: CheckLocation[K] } = { text: '' };
  if (p.track !== undefined) {
    location.track = p.track;
    parts.push(`track ${p.track}`);
  }
  // Uncompressed images report no offset (0); a CCKD problem's offset is where in the file it is.
  if (report.format === 'cckd') {
    location.offsetBytes = p.offset;
    parts.push(`byte offset ${p.offset}`);
  }
  location.text = parts.join(' at ') || 'the image';
  return problem(p.kind, location, p.message);
}

function describe(target: ImageTarget, report: ImageFileReport, vtocSummary: string | undefined): string {
  const size = target.format === 'fba' ? `, ${statSync(target.path).size / FBA_BLOCK_BYTES} blocks of ${FBA_BLOCK_BYTES} bytes` : '';
  const base = `${FORMAT_NAMES[target.format]}${report.tracks > 0 ? `, ${report.tracks} tracks` : size}`;
  return vtocSummary ? `${base}; ${vtocSummary}` : base;
}

interface ImageFindings extends CheckFindings {
  readonly vtocRepairable: boolean;
  readonly cckdRepairable: boolean;
}

/** Checks the image (read-only). */
export function inspectImageTarget(target: ImageTarget, onProgress?: OnPhaseProgress): ImageFindings {
  const report = checkImage(target.path, { onProgress });
  const problems = report.problems.map((p) => fileProblemOf(p, report));
  const readable = report.problems.every((p) => !UNREADABLE_KINDS.has(p.kind));
  const cckdRepairable = report.problems.some((p) => CCKD_SPACE_KINDS.has(p.kind));
  let vtocSummary: string | undefined;
  let vtocRepairable = false;
  if (readable && target.format !== 'fba' && target.format !== 'cckd-shadow') {
    const volume = openVolume(target.path, { readOnly: true });
    try {
      const vtoc = checkVtoc(volume);
      vtocSummary = `${volume.ckd.family.family}, ${volume.ckd.cylinders} cylinders; ${vtoc.summary}`;
      problems.push(...vtoc.problems);
      vtocRepairable = vtoc.problems.length > 0 && vtoc.problems.every((p) => VTOC_SUMMARY_KINDS.has(p.kind));
    } finally {
      volume.close();
    }
  } else if (target.format === 'cckd-shadow') {
    vtocSummary = 'VTOC not checked (a shadow file holds only the tracks changed over its base)';
  }
  return { format: target.format, description: describe(target, report, vtocSummary), problems, vtocRepairable, cckdRepairable };
}

/** Makes the safe repairs of an image; returns what was done. */
export function repairImage(target: ImageTarget, findings: ImageFindings): string[] {
  const done: string[] = [];
  if (findings.cckdRepairable) done.push(...checkImage(target.path, { repair: true }).repaired);
  if (findings.vtocRepairable) {
    const volume = openVolume(target.path);
    try {
      const view = refreshVtocSummary(volume);
      const where = cchhOf(volume.ckd, view.vtocRun.firstTrack);
      done.push(
        `rebuilt the Format-5 free-space chain and the Format-4 counters (DS4DSREC, DS4HPCHR) of the VTOC at CC=${where.cylinder} HH=${where.head} from the data set extents`,
      );
    } finally {
      volume.close();
    }
  }
  return done;
}

/** Why a kind of image problem is left as it is. */
export function whyImageProblemStays(kind: string, repairAsked: boolean): string {
  if (CCKD_SPACE_KINDS.has(kind))
    return repairAsked ? 'not rebuilt: the CCKD tables are not sound' : 'run check --repair to rebuild the free chain and statistics from the tables';
  if (VTOC_SUMMARY_KINDS.has(kind)) {
    return repairAsked
      ? 'not rebuilt: other VTOC damage (extents, chains) must be fixed first, or the free space would be computed from wrong extents'
      : 'run check --repair to rebuild the Format-5 chain and the Format-4 counters from the extents';
  }
  const reasons: Readonly<Record<string, string>> = {
    header: 'a damaged CCKD header is left alone: the geometry and tables it describes cannot be guessed',
    table: 'damaged CCKD L1/L2 tables are left alone: which of two overlapping spaces holds the track cannot be known',
    track: 'a track image that does not decode is lost data; nothing can rebuild it',
    vol1: 'VOL1 is left alone: where the VTOC is cannot be known',
    format4: 'the Format-4 is left alone: the VTOC it describes cannot be guessed',
    'vtoc-extent': 'the VTOC extent is left alone: where the DSCBs are cannot be guessed',
    dscb: 'an unreadable VTOC track is lost data',
    'dscb-chain': 'a broken Format-1/Format-3 chain is left alone: the missing extents cannot be known',
    'extent-outside': 'an extent outside the volume is left alone: the data set may live on a larger copy of the volume',
    'extent-overlap': 'overlapping extents are left alone: which data set owns the tracks cannot be known, and freeing them could lose data',
  };
  return reasons[kind] ?? 'not repairable';
}
