/**
 * Crafted backup tapes, as a hostile user makes them: a backup tape read block by block, edited
 * (its UHL words, its data blocks), and sealed again, its UTL1 (the data's digest) and UTL2 (the
 * labels' SHA-256) recomputed, so that every digest a restore checks matches what was edited. The
 * digests prove only that a tape is what it says; these tapes say something hostile.
 */
import { ElementHasher, type ElementDigestKind } from '../../src/techniques/tape-backup/element-digest.js';
import { writeFileSync } from 'node:fs';
import { decodeEbcdicTrimmed } from '../../src/base/ebcdic.js';
import { encodeAwsBlockHeader, FLAG1_TAPEMARK, FLAG1_WHOLE_BLOCK } from '../../src/tape/aws-block-header.js';
import { encodeUserLabel, labelIdOf, userLabelText } from '../../src/tape/standard-labels.js';
import { TapeReader } from '../../src/tape/tape-reader.js';
import { digestLabel } from '../../src/techniques/tape-backup/backup-labels.js';
import { labelDigestLabel, labelDigestOf } from '../../src/techniques/tape-backup/label-digest.js';

/** A tape as a list of blocks (their data, decompressed) and tapemarks (null). */
export type TapeBlocks = Array<Buffer | null>;

export function readTapeBlocks(path: string): TapeBlocks {
  const reader = TapeReader.open(path);
  try {
    const out: TapeBlocks = [];
    for (let b = 0; b < reader.entryCount; b++) out.push(reader.entry(b).kind === 'tapemark' ? null : Buffer.from(reader.readBlockData(b)));
    return out;
  } finally {
    reader.close();
  }
}

/** Writes `blocks` as a plain AWSTAPE file (one chunk per block). */
export function writeTapeBlocks(path: string, blocks: TapeBlocks): void {
  const parts: Buffer[] = [];
  let previous = 0;
  for (const block of blocks) {
    if (block === null) {
      parts.push(encodeAwsBlockHeader({ curlenBytes: 0, prvlenBytes: previous, flags1: FLAG1_TAPEMARK, flags2: 0 }));
      previous = 0;
    } else {
      parts.push(encodeAwsBlockHeader({ curlenBytes: block.length, prvlenBytes: previous, flags1: FLAG1_WHOLE_BLOCK, flags2: 0 }), block);
      previous = block.length;
    }
  }
  writeFileSync(path, Buffer.concat(parts));
}

/** The text of a user label block (after its 4-byte id). */
export function userLabelWords(block: Buffer): string {
  return decodeEbcdicTrimmed(block.subarray(4));
}

/** A user label block `id` (UHL1, UTL2…) holding `text`. */
export function userLabel(id: string, text: string): Buffer {
  return encodeUserLabel({ labelId: id.slice(0, 3) as 'UHL', number: Number(id.slice(3)), userData: userLabelText(text) });
}

/** Index of the data blocks of file `file` (0-based) of a standard-labelled tape: between its header and trailer tapemarks. */
export function dataBlocksOf(blocks: TapeBlocks, file: number): { first: number; count: number } {
  let tapemarks = 0;
  let first = -1;
  for (let i = 0; i < blocks.length; i++) {
    if (blocks[i] !== null) continue;
    tapemarks++;
    // Each file: HDR… TM data… TM EOF… TM.
    if (tapemarks === file * 3 + 1) first = i + 1;
    if (tapemarks === file * 3 + 2) return { first, count: i - first };
  }
  throw new Error(`the tape has no file ${file}`);
}

/**
 * Recomputes every file's UTL1 (the digest of its data blocks) and UTL2 (SHA-256 of VOL1 and its
 * HDR/UHL labels), as a backup writes them: the tape then verifies whatever its labels and blocks
 * say. UTL1 keeps the construction it names (element-digest.ts), or takes `construction`: SHA256
 * makes a tape as backups wrote them before BLKSHA256.
 */
export function sealTapeBlocks(blocks: TapeBlocks, construction?: ElementDigestKind): TapeBlocks {
  const out = [...blocks];
  const vol1 = out[0] as Buffer;
  for (let file = 0; ; file++) {
    let data;
    try {
      data = dataBlocksOf(out, file);
    } catch {
      return out;
    }
    const headers: Buffer[] = [];
    for (let b = data.first - 2; b > 0 && out[b] !== null; b--) {
      const id = labelIdOf(out[b] as Buffer);
      if (id === undefined || !/^(HDR|UHL)/.test(id)) break;
      headers.unshift(out[b] as Buffer);
    }
    for (let b = data.first + data.count + 1; b < out.length && out[b] !== null; b++) {
      const id = labelIdOf(out[b] as Buffer);
      if (id === 'UTL1') {
        const kind = construction ?? (userLabelWords(out[b] as Buffer).startsWith('SHA256=') ? 'SHA256' : 'BLKSHA256');
        const hasher = new ElementHasher(kind);
        for (let d = data.first; d < data.first + data.count; d++) hasher.update(out[d] as Buffer);
        out[b] = encodeUserLabel({ labelId: 'UTL', number: 1, userData: digestLabel({ kind, hex: hasher.digest().toString('hex') }) });
      }
      if (id === 'UTL2')
        out[b] = encodeUserLabel({ labelId: 'UTL', number: 2, userData: labelDigestLabel(labelDigestOf({ ids: [], bytes: [vol1, ...headers] })) });
    }
  }
}
