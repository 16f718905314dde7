/**
 * The manifest stored beside a vaulted cartridge: what is on it (its labels and data sets), the
 * SHA-256 of every data set's data and of the whole object, and the block index, so that a reader
 * can fetch one data set by ranged GETs without walking the tape. Layout: native-layout/vault-manifest.md.
 *
 * A manifest read back from the store is untrusted: parseVaultManifest checks its shape and size,
 * and the index is rebuilt through tapeIndexFromRows, which checks it as a header walk would.
 */
import { createHash } from 'node:crypto';
import { decodeEbcdic } from '../base/ebcdic.js';
import { fileSha256 } from '../base/file-digest.js';
import { VaultError } from '../errors/snaptape-error.js';
import { readTapeContents } from '../tape/tape-contents.js';
import { tapeIndexFromRows, tapeIndexRows, type TapeIndex, type TapeIndexRow } from '../tape/tape-index.js';
import { TapeReader } from '../tape/tape-reader.js';

export const MANIFEST_FORMAT = 'snaptape-vault-manifest';
export const MANIFEST_VERSION = 1;
/** A 3390-54 backup is about a million blocks; its rows take about 20 MB of JSON. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
/** A tape label block's length. */
const LABEL_BYTES = 80;

export interface VaultedDataSet {
  readonly name: string;
  readonly fileSequence: number;
  readonly firstBlockNumber: number;
  readonly blockCount: number;
  /** SHA-256 of the data set's block data, in order (labels excluded). */
  readonly sha256: string;
}

export interface VaultManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: typeof MANIFEST_VERSION;
  readonly volser: string;
  readonly sizeBytes: number;
  /** SHA-256 of the whole cartridge file, as stored in the object. */
  readonly sha256: string;
  /** Every 80-byte label block (VOL1, HDR/EOF/EOV, UHL/UTL), decoded from EBCDIC, in tape order. */
  readonly labels: readonly string[];
  readonly dataSets: readonly VaultedDataSet[];
  readonly index: readonly TapeIndexRow[];
}

/** Reads a cartridge file and describes it: labels, data sets with their digests, and the index. */
export function buildVaultManifest(path: string, volser: string): VaultManifest {
  const reader = TapeReader.open(path);
  try {
    const contents = readTapeContents(reader);
    const dataBlocks = new Set<number>();
    const dataSets = contents.dataSets.map((ds) => {
      const hash = createHash('sha256');
      for (let b = ds.firstDataBlockNumber; b < ds.firstDataBlockNumber + ds.dataBlockCount; b++) {
        hash.update(reader.readBlockData(b));
        dataBlocks.add(b);
      }
      return {
        name: ds.dsid,
        fileSequence: ds.fileSequence,
        firstBlockNumber: ds.firstDataBlockNumber,
        blockCount: ds.dataBlockCount,
        sha256: hash.digest('hex'),
      };
    });
    const labels: string[] = [];
    for (const entry of reader.index.entries()) {
      if (entry.kind !== 'block' || entry.storedBytes !== LABEL_BYTES || dataBlocks.has(entry.blockNumber)) continue;
      // Stored in 80 bytes is not 80 bytes: a compressed block (one left past the closing
      // tapemarks by an older set) is no label, and would make a manifest its reader refuses.
      const data = reader.readBlockData(entry.blockNumber);
      if (data.length === LABEL_BYTES) labels.push(decodeEbcdic(data));
    }
    const whole = fileSha256(path, 'the cartridge');
    return {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      volser,
      sizeBytes: whole.sizeBytes,
      sha256: whole.sha256,
      labels,
      dataSets,
      index: tapeIndexRows(reader.index),
    };
  } finally {
    reader.close();
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Checks a manifest fetched from the store; anything malformed is a VaultError naming the object. */
export function parseVaultManifest(text: string, where: string): VaultManifest {
  const bad = (state: string): never => {
    throw new VaultError(`Cannot use the vault manifest ${where}: ${state}`, { object: where });
  };
  if (text.length > MAX_MANIFEST_BYTES) bad(`it is longer than ${MAX_MANIFEST_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    bad('it is not JSON');
  }
  if (!isRecord(value) || value.format !== MANIFEST_FORMAT) return bad(`it is not a ${MANIFEST_FORMAT}`);
  if (value.version !== MANIFEST_VERSION) bad(`version ${String(value.version)} is not ${MANIFEST_VERSION}`);
  const { volser, sizeBytes, sha256, labels, dataSets, index } = value;
  if (typeof volser !== 'string' || !/^[A-Z0-9@#$]{1,6}$/.test(volser)) bad('its volser is missing or malformed');
  if (!isCount(sizeBytes)) bad('its size is not a count of bytes');
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) bad('its SHA-256 is malformed');
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string' && l.length === 80)) bad('its labels are not 80-character strings');
  if (!Array.isArray(index) || !index.every((row) => Array.isArray(row) && row.length === 4 && row.every(isCount))) bad('its index rows are malformed');
  if (
    !Array.isArray(dataSets) ||
    !dataSets.every(
      (d) =>
        isRecord(d) &&
        typeof d.name === 'string' &&
        isCount(d.fileSequence) &&
        isCount(d.firstBlockNumber) &&
        isCount(d.blockCount) &&
        typeof d.sha256 === 'string' &&
        SHA256_HEX.test(d.sha256) &&
        d.firstBlockNumber + d.blockCount <= (index as unknown[]).length,
    )
  ) {
    bad('its data sets are malformed');
  }
  // Disjoint, so that walking them block by block costs no more than the index (each naming the
  // whole index, a 64 MB manifest would cost billions of steps).
  const spans = (dataSets as VaultedDataSet[]).map((d) => [d.firstBlockNumber, d.firstBlockNumber + d.blockCount] as const).sort((a, b) => a[0] - b[0]);
  const overlap = spans.findIndex((span, i) => i > 0 && span[0] < (spans[i - 1] as readonly [number, number])[1]);
  if (overlap > 0) {
    const [first, end] = spans[overlap] as readonly [number, number];
    bad(
      `its data sets overlap (blocks ${first}-${end - 1} and ${(spans[overlap - 1] as readonly [number, number])[0]}-${(spans[overlap - 1] as readonly [number, number])[1] - 1})`,
    );
  }
  return value as unknown as VaultManifest;
}

/** The manifest's index as a tape index, checked row by row against the cartridge's size. */
export function manifestIndex(manifest: VaultManifest, path: string): TapeIndex {
  return tapeIndexFromRows(path, manifest.sizeBytes, manifest.index);
}
