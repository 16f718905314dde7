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
 *
 * The trailer labels EOF1 and EOF2 repeat HDR1 and HDR2 but for their label id and EOF1's block
 * count (the standard's rule, and how the backup writes them). `verify` holds a tape with UTL2 to
 * it (trailerLabelProblem), which puts the trailers under UTL2 as well: UTL1 and UTL2 are checked
 * by the digests they hold, so every label byte of such a tape is covered.
 */
import { createHash } from 'node:crypto';
import { decodeEbcdicTrimmed, encodeEbcdic, encodeEbcdicPadded } from '../../base/ebcdic.js';
import { TapeLabelError } from '../../errors/snaptape-error.js';
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

/**
 * The recorded label digest (UTL2), or undefined on a tape written before it existed (no UTL2). A
 * UTL2 that holds no digest is damage, not an old tape: it is refused (TapeLabelError naming
 * `where`), so that a damaged UTL2 cannot pass the labels off as not covered.
 */
export function parseLabelDigest(userTrailerData: readonly Buffer[], where: string): string | undefined {
  if (userTrailerData[1] === undefined) return undefined;
  const text = decodeEbcdicTrimmed(userTrailerData[1]);
  const digest = new RegExp(`^${LABEL_DIGEST_KEY}([0-9a-f]{64})$`).exec(text)?.[1];
  if (digest === undefined) {
    throw new TapeLabelError(`Cannot read the backup description of ${where}: UTL2 holds no label SHA-256 ("${text}")`, { where });
  }
  return digest;
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

/** EOF1's block count fields (columns 55-60 and 77-80), which HDR1 holds as 0. */
const BLOCK_COUNT_LOW = { offset: 54, length: 6 } as const;
const BLOCK_COUNT_HIGH = { offset: 76, length: 4 } as const;
const BLOCK_COUNT_LOW_MODULUS = 1_000_000;

/** What `trailer` must be: `header` with the trailer's id (and for EOF1 the block count). */
function expectedTrailer(header: Buffer, trailerId: string, dataBlockCount: number): Buffer {
  const expected = Buffer.from(header);
  encodeEbcdic(trailerId).copy(expected, 0);
  if (trailerId === 'EOF1') {
    const high = Math.floor(dataBlockCount / BLOCK_COUNT_LOW_MODULUS);
    encodeEbcdic(String(dataBlockCount % BLOCK_COUNT_LOW_MODULUS).padStart(BLOCK_COUNT_LOW.length, '0')).copy(expected, BLOCK_COUNT_LOW.offset);
    encodeEbcdicPadded(high === 0 ? '' : String(high).padStart(BLOCK_COUNT_HIGH.length, '0'), BLOCK_COUNT_HIGH.length).copy(expected, BLOCK_COUNT_HIGH.offset);
  }
  return expected;
}

/**
 * Where the element's trailer labels EOF1 and EOF2 differ from its HDR1 and HDR2 (beyond the id
 * and EOF1's block count), as a message names it; undefined when they repeat them.
 */
export function trailerLabelProblem(reader: TapeReader, firstDataBlockNumber: number, dataBlockCount: number): string | undefined {
  const headers = new Map<string, Buffer>();
  for (let b = firstDataBlockNumber - 2; b > 0 && reader.entry(b).kind === 'block'; b--) {
    const bytes = reader.readBlockData(b);
    const id = labelIdOf(bytes);
    if (id === undefined || !/^(HDR|UHL)/.test(id)) break;
    headers.set(id, bytes);
  }
  const firstTrailer = firstDataBlockNumber + dataBlockCount + 1;
  for (const [number, id] of [
    [1, 'EOF1'],
    [2, 'EOF2'],
  ] as const) {
    const blockNumber = firstTrailer + number - 1;
    const header = headers.get(`HDR${number}`);
    const entry = reader.index.entryAt(blockNumber);
    if (header === undefined) return `HDR${number} is missing`;
    if (entry?.kind !== 'block') return `${id} is missing at block ${blockNumber}`;
    const trailer = reader.readBlockData(blockNumber);
    const expected = expectedTrailer(header, id, dataBlockCount);
    if (trailer.equals(expected)) continue;
    let column = 0;
    while (column < trailer.length && trailer[column] === expected[column]) column++;
    return `${id} (block ${blockNumber}, byte offset ${entry.offsetBytes}) does not repeat HDR${number} at column ${column + 1}`;
  }
  return undefined;
}
