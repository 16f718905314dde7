/**
 * What a backup tape says about itself, so that a restore needs nothing else (issue 4, item 5).
 * Each element's file carries user header labels and one user trailer label, as EBCDIC text of
 * KEY=VALUE words (76 columns each):
 *   UHL1  SNAPTAPE1 SRC KIND=CKD TYPE=3390-3 CYL=3339 SLOT=56832 VOL=SRC001     the source volume
 *   UHL2  ELEM=DATASET DSN=PROD.DATA                                           the element
 *   UHL3-5 F1A= F1B= F1C= (hex of the Format-1 DSCB's 96 data bytes)           data sets only
 *   UHL3  FIRST=0 COUNT=200                                 FBA ranges, and track runs (ELEM=TRACKS)
 * The first element of a whole-volume backup of a tracked volume also says where it sits in a chain
 * (native-layout/backup-tape-labels.md):
 *   CHAIN CKPT=<name>                                  the checkpoint the backup set at its start
 *   BASE CKPT=<name> VOL=<volser>                      an incremental: its base's checkpoint and tape
 *   BASESHA=<64 hex>                                   an incremental: the SHA-256 of the whole base tape
 *   UTL1  BLKSHA256=<64 hex> (SHA256=<64 hex> on older tapes)                  the element's digest (element-digest.ts)
 *   UTL2  LABELSHA256=<64 hex>                              the digest of VOL1, HDR1, HDR2, UHL* (label-digest.ts)
 * Standard-label readers (hetmap, tapemap, z/OS) skip user labels.
 */
import { decodeEbcdicTrimmed } from '../../base/ebcdic.js';
import { TapeLabelError } from '../../errors/snaptape-error.js';
import type { VolumeGeometry } from '../../geometry/volume-geometry.js';
import { userLabelText } from '../../tape/standard-labels.js';
import { encodeFormat1 } from '../../vtoc/dscb-codec.js';
import { DSCB_KEY_BYTES } from '../../vtoc/dscb-layouts.js';
import type { BackupElement } from './backup-elements.js';
import type { ElementDigest } from './element-digest.js';

export const BACKUP_LABEL_MAGIC = 'SNAPTAPE1';
const F1_HEX_PARTS = ['F1A', 'F1B', 'F1C'] as const;
const F1_HEX_PART_CHARS = 64;

export interface SourceDescription {
  readonly kind: 'ckd' | 'fba';
  readonly typeName: string;
  /** Cylinders (CKD) or blocks (FBA). */
  readonly size: number;
  readonly slotBytes: number;
  readonly volser: string;
}

export interface ElementDescription {
  readonly kind: 'volume' | 'dataset' | 'blocks' | 'tracks';
  readonly dsname?: string;
  /** The Format-1 DSCB's 96 data bytes (data sets). */
  readonly format1Data?: Buffer;
  /** FBA ranges: the first block and the count; track runs: the first track and the count. */
  readonly firstBlock?: number;
  readonly blockCount?: number;
}

/** Where a backup tape sits in a chain: the checkpoint it set, and an incremental's base. */
export interface ChainDescription {
  readonly checkpoint: string;
  readonly base?: { readonly checkpoint: string; readonly volser: string; readonly sha256: string };
}

export function chainLabelTexts(chain: ChainDescription): string[] {
  const texts = [`CHAIN CKPT=${chain.checkpoint}`];
  if (chain.base) texts.push(`BASE CKPT=${chain.base.checkpoint} VOL=${chain.base.volser}`, `BASESHA=${chain.base.sha256}`);
  return texts;
}

/** The chain words of an element's UHLs; undefined for a tape made without change tracking. */
export function parseChainDescription(userHeaderData: readonly Buffer[], where: string): ChainDescription | undefined {
  const texts = userHeaderData.map((d) => decodeEbcdicTrimmed(d));
  const chain = texts.find((t) => t.startsWith('CHAIN '));
  if (!chain) return undefined;
  const checkpoint = words([chain]).get('CKPT');
  if (!checkpoint) throw labelError(where, `the CHAIN label names no checkpoint (${chain})`);
  const baseText = texts.find((t) => t.startsWith('BASE '));
  if (!baseText) return { checkpoint };
  const base = words([baseText]);
  const sha = words(texts.filter((t) => t.startsWith('BASESHA='))).get('BASESHA') ?? '';
  if (!base.get('CKPT') || !/^[0-9a-f]{64}$/.test(sha)) throw labelError(where, `the BASE labels are incomplete (${baseText})`);
  return { checkpoint, base: { checkpoint: base.get('CKPT') as string, volser: base.get('VOL') ?? '', sha256: sha } };
}

export function describeSource(geometry: VolumeGeometry, volser: string): SourceDescription {
  return geometry.kind === 'ckd'
    ? { kind: 'ckd', typeName: geometry.typeName, size: geometry.cylinders, slotBytes: geometry.trackSlotBytes, volser }
    : { kind: 'fba', typeName: 'fba', size: geometry.blockCount, slotBytes: geometry.blockBytes, volser };
}

export function headerLabelTexts(source: SourceDescription, element: BackupElement): string[] {
  const sizeWord = source.kind === 'ckd' ? `CYL=${source.size}` : `BLKS=${source.size}`;
  const texts = [
    `${BACKUP_LABEL_MAGIC} SRC KIND=${source.kind.toUpperCase()} TYPE=${source.typeName} ${sizeWord} SLOT=${source.slotBytes} VOL=${source.volser}`,
  ];
  if (element.kind === 'dataset' && element.dataset) {
    texts.push(`ELEM=DATASET DSN=${element.dataset.name}`);
    const hex = encodeFormat1(element.dataset.format1).subarray(DSCB_KEY_BYTES).toString('hex').toUpperCase();
    F1_HEX_PARTS.forEach((part, i) => texts.push(`${part}=${hex.slice(i * F1_HEX_PART_CHARS, (i + 1) * F1_HEX_PART_CHARS)}`));
  } else if ((element.kind === 'blocks' || element.kind === 'tracks') && element.range) {
    texts.push(element.kind === 'blocks' ? 'ELEM=BLOCKS' : 'ELEM=TRACKS');
    texts.push(`FIRST=${element.range.firstBlock} COUNT=${element.range.blockCount}`);
  } else {
    texts.push('ELEM=VOLUME');
  }
  return texts;
}

export function headerLabels(source: SourceDescription, element: BackupElement, chain?: ChainDescription): Buffer[] {
  return [...headerLabelTexts(source, element), ...(chain ? chainLabelTexts(chain) : [])].map(userLabelText);
}

/** UTL1's text: the element's digest, named by its construction (element-digest.ts). */
export function digestLabel(digest: ElementDigest): Buffer {
  return userLabelText(`${digest.kind}=${digest.hex}`);
}

function words(texts: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const text of texts)
    for (const word of text.split(/ +/)) {
      const eq = word.indexOf('=');
      if (eq > 0) map.set(word.slice(0, eq), word.slice(eq + 1));
    }
  return map;
}

function labelError(where: string, problem: string): TapeLabelError {
  return new TapeLabelError(`Cannot read the backup description of ${where}: ${problem}`, { where });
}

export function parseSourceDescription(userHeaderData: readonly Buffer[], where: string): SourceDescription {
  const texts = userHeaderData.map((d) => decodeEbcdicTrimmed(d));
  if (!texts[0]?.startsWith(`${BACKUP_LABEL_MAGIC} SRC`))
    throw labelError(where, `UHL1 does not start "${BACKUP_LABEL_MAGIC} SRC": not a snaptape backup tape`);
  const w = words([texts[0]]);
  const kind = w.get('KIND') === 'FBA' ? 'fba' : 'ckd';
  const size = Number(w.get(kind === 'ckd' ? 'CYL' : 'BLKS'));
  const slotBytes = Number(w.get('SLOT'));
  if (!Number.isInteger(size) || size < 1 || !Number.isInteger(slotBytes) || slotBytes < 1) throw labelError(where, `UHL1 has a bad size: ${texts[0]}`);
  return { kind, typeName: w.get('TYPE') ?? kind, size, slotBytes, volser: w.get('VOL') ?? '' };
}

export function parseElementDescription(userHeaderData: readonly Buffer[], where: string): ElementDescription {
  const texts = userHeaderData.map((d) => decodeEbcdicTrimmed(d));
  const w = words(texts.slice(1));
  const kind = w.get('ELEM');
  if (kind === 'DATASET') {
    const hex = F1_HEX_PARTS.map((p) => w.get(p) ?? '').join('');
    if (!/^[0-9A-F]{192}$/.test(hex)) throw labelError(where, 'the Format-1 DSCB in UHL3-UHL5 is not 96 bytes of hex');
    return { kind: 'dataset', dsname: w.get('DSN'), format1Data: Buffer.from(hex, 'hex') };
  }
  if (kind === 'BLOCKS' || kind === 'TRACKS') {
    const firstBlock = Number(w.get('FIRST'));
    const blockCount = Number(w.get('COUNT'));
    if (!Number.isInteger(firstBlock) || firstBlock < 0 || !Number.isInteger(blockCount) || blockCount < 1)
      throw labelError(where, `UHL3 has a bad range (FIRST=${w.get('FIRST')} COUNT=${w.get('COUNT')})`);
    return { kind: kind === 'BLOCKS' ? 'blocks' : 'tracks', firstBlock, blockCount };
  }
  if (kind === 'VOLUME') return { kind: 'volume' };
  throw labelError(where, `UHL2 names no element kind (${texts[1] ?? 'missing'})`);
}

/** UTL1's digest, in whichever construction it names: BLKSHA256 (a backup now), or SHA256 (older tapes). */
export function parseDigest(userTrailerData: readonly Buffer[], where: string): ElementDigest {
  const text = userTrailerData[0] ? decodeEbcdicTrimmed(userTrailerData[0]) : '';
  const match = /^(BLKSHA256|SHA256)=([0-9a-f]{64})$/.exec(text);
  if (!match) throw labelError(where, `UTL1 holds no SHA-256 ("${text}")`);
  return { kind: match[1] as ElementDigest['kind'], hex: match[2] as string };
}
