/**
 * The label digest of a backup tape's element (native-layout/backup-tape-labels.md): UTL1 holds the
 * SHA-256 of the element's data blocks, UTL2 the SHA-256 of the labels that describe it, so that a
 * restore trusts the source geometry in UHL1 only as far as it is checked:
 *
 *   UTL2  LABELSHA256=<64 hex>   SHA-256 of VOL1, then the file's HDR1 HDR2 UHL1..UHLn, 80 bytes each,
 *                                as they are on the tape (before its header tapemark)
 *
 * The backup computes it from its tape plan, `verify` and `restore` from the blocks on the tape.
 * Tapes written before UTL2 existed still verify: their labels are reported as not covered.
 */
import { createHash } from 'node:crypto';
import { decodeEbcdicTrimmed } from '../../base/ebcdic.js';
import { labelIdOf, userLabelText } from '../../tape/standard-labels.js';
import type { TapePlan } from '../../tape/tape-plan.js';
import type { TapeReader } from '../../tape/tape-reader.js';

export const LABEL_DIGEST_KEY = 'LABELSHA256=';

/** The labels one element's digest covers, in tape order. */
export interface CoveredLabels {
  readonly ids: readonly string[];
  readonly bytes: readonly Uint8Array[];
}

export function labelDigestOf(labels: CoveredLabels): string {
  const hash = createHash('sha256');
  for (const label of labels.bytes) hash.update(label);
  return hash.digest('hex');
}

/** "VOL1 HDR1 HDR2 UHL1-UHL5": the covered labels, as a message names them. */
export function coveredLabelNames(labels: CoveredLabels): string {
  const users = labels.ids.filter((id) => id.startsWith('UHL'));
  const others = labels.ids.filter((id) => !id.startsWith('UHL'));
  const userRange = users.length === 0 ? [] : users.length === 1 ? [users[0] as string] : [`${users[0]}-${users[users.length - 1]}`];
  return [...others, ...userRange].join(' ');
}

/** UTL2's user data. */
export function labelDigestLabel(sha256Hex: string): Buffer {
  return userLabelText(`${LABEL_DIGEST_KEY}${sha256Hex}`);
}

/** The recorded label digest (UTL2), or undefined on a tape written before it existed. */
export function parseLabelDigest(userTrailerData: readonly Buffer[]): string | undefined {
  const text = userTrailerData[1] ? decodeEbcdicTrimmed(userTrailerData[1]) : '';
  return new RegExp(`^${LABEL_DIGEST_KEY}([0-9a-f]{64})$`).exec(text)?.[1];
}

/** File `fileIndex`'s covered labels as the backup plans to write them. */
export function plannedLabels(plan: TapePlan, fileIndex: number): CoveredLabels {
  const volume = plan.volumeLabels.filter((l) => l.labelId === 'VOL1');
  const file = plan.files[fileIndex];
  const labels = [...volume, ...(file?.headerLabels ?? [])];
  return { ids: labels.map((l) => l.labelId), bytes: labels.map((l) => l.bytes ?? new Uint8Array()) };
}

/**
 * The covered labels of the data set whose data starts at `firstDataBlockNumber`, read from the
 * tape: VOL1 (block 0) and the HDR/UHL blocks just before the header tapemark.
 */
export function labelsOnTape(reader: TapeReader, firstDataBlockNumber: number): CoveredLabels {
  const header: Array<{ id: string; bytes: Buffer }> = [];
  for (let b = firstDataBlockNumber - 2; b > 0 && reader.entry(b).kind === 'block'; b--) {
    const bytes = reader.readBlockData(b);
    const id = labelIdOf(bytes);
    if (id === undefined || !/^(HDR|UHL)/.test(id)) break;
    header.unshift({ id, bytes });
  }
  const volume = reader.readBlockData(0);
  const labels = [{ id: labelIdOf(volume) ?? 'VOL1', bytes: volume }, ...header];
  return { ids: labels.map((l) => l.id), bytes: labels.map((l) => l.bytes) };
}
