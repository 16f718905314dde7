/**
 * What a backup tape says about its place in a chain, read from its labels alone (no data read):
 * the checkpoint it set, an incremental's base (checkpoint, base tape volser and SHA-256), and which
 * volume units it holds, with the tape blocks that hold them. The NBD export of a tape or a chain,
 * and `restore`/`verify --chain`, read tapes through this.
 */
import { FBA_BLOCKS_PER_TAPE_BLOCK } from '../tape-backup/backup-elements.js';
import type { ChainDescription, SourceDescription } from '../tape-backup/backup-labels.js';
import { openBackupTape } from '../restore/backup-tape.js';

/** A run of volume units on a tape: units [firstUnit, firstUnit + unitCount) are in tape blocks [firstBlockNumber, …). */
export interface TapeUnitRun {
  readonly element: string;
  readonly firstUnit: number;
  readonly unitCount: number;
  /** The tape block (AWSTAPE block number) of `firstUnit`. */
  readonly firstBlockNumber: number;
  /** Volume units per tape block: 1 (a CKD track), or up to FBA_BLOCKS_PER_TAPE_BLOCK FBA blocks. */
  readonly unitsPerBlock: number;
}

export interface TapeChainInfo {
  readonly path: string;
  readonly volser: string;
  readonly source: SourceDescription;
  /** Undefined for a tape made without change tracking (or of data sets). */
  readonly chain?: ChainDescription;
  /** True for an incremental (or differential): it holds only `runs`, on top of its base. */
  readonly incremental: boolean;
  /** The whole-volume and unit-range elements, in tape order (data set elements are not listed). */
  readonly runs: readonly TapeUnitRun[];
}

/**
 * Reads a backup tape's chain description and the units it holds (a finished tape; refused while a
 * backup writes it or when its backup stopped, as every tape reader refuses it).
 */
export function readTapeChain(path: string): TapeChainInfo {
  const tape = openBackupTape(path);
  try {
    const chain = tape.chain;
    const unitsPerBlock = tape.source.kind === 'ckd' ? 1 : FBA_BLOCKS_PER_TAPE_BLOCK;
    const runs: TapeUnitRun[] = [];
    for (const e of tape.elements) {
      const d = e.description;
      if (d.kind === 'volume') {
        const unitCount = tape.source.kind === 'ckd' ? e.blockCount : tape.source.size;
        runs.push({ element: e.name, firstUnit: 0, unitCount, firstBlockNumber: e.firstBlockNumber, unitsPerBlock });
      } else if (d.kind === 'tracks' || d.kind === 'blocks') {
        runs.push({ element: e.name, firstUnit: d.firstBlock ?? 0, unitCount: d.blockCount ?? 0, firstBlockNumber: e.firstBlockNumber, unitsPerBlock });
      }
    }
    return { path, volser: tape.volser, source: tape.source, ...(chain ? { chain } : {}), incremental: chain?.base !== undefined, runs };
  } finally {
    tape.reader.close();
  }
}
