/**
 * The Hercules device ids at byte 0 of a volume image file, and what snaptape makes of each: the
 * one list that every reader of an image's first bytes judges them by (open-image.ts inspectImage
 * and volumeImageKind, check/check-target.ts), so that an open, a check and a tape writer about to
 * replace a file agree on what is a volume. A file that starts with one is a Hercules image, never
 * taken for a headerless FBA image, whatever its name.
 */
import { CCKD_DEVID_BASE, CCKD_DEVID_SHADOW } from './cckd-header.js';
import { CKD_DEVID_UNCOMPRESSED } from './ckd-image-header.js';

/**
 * - `ckd`: an uncompressed CKD image (one file, or the first of a multi-file volume), opened;
 * - `cckd` / `cckd-shadow`: a compressed CCKD base file or shadow file (cckd-open.ts);
 * - `foreign`: a Hercules format snaptape recognises but does not open (CCKD64 files, compressed FBA).
 */
export type HerculesImageKind = 'ckd' | 'cckd' | 'cckd-shadow' | 'foreign';

/** Every device id Hercules writes at byte 0 of an image (its dasdblks.h). */
export const HERCULES_DEVIDS: ReadonlyMap<string, HerculesImageKind> = new Map<string, HerculesImageKind>([
  [CKD_DEVID_UNCOMPRESSED, 'ckd'],
  [CCKD_DEVID_BASE, 'cckd'],
  [CCKD_DEVID_SHADOW, 'cckd-shadow'],
  ['CKD_P064', 'foreign'],
  ['CKD_C064', 'foreign'],
  ['CKD_S064', 'foreign'],
  ['FBA_C370', 'foreign'],
  ['FBA_S370', 'foreign'],
  ['FBA_C064', 'foreign'],
  ['FBA_S064', 'foreign'],
]);

/** The device id at byte 0 of `head` (its first 8 bytes, latin1). */
export function devidOf(head: Buffer): string {
  return head.subarray(0, 8).toString('latin1');
}

/** What the device id `devid` is (HERCULES_DEVIDS), or undefined when it is none of Hercules'. */
export function herculesImageKind(devid: string): HerculesImageKind | undefined {
  return HERCULES_DEVIDS.get(devid);
}
