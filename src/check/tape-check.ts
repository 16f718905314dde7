/**
 * `snaptape check` of an AWSTAPE or HET tape: the chunk chain (tape-chain.ts), every HET block
 * decompressing (het-decompress.ts), and the labels and end of volume (tape-label-check.ts), each
 * problem with its block number and byte offset.
 *
 * Repair does only what loses nothing valid:
 * - a torn final block (the file ends inside it) is cut off, so the tape ends at the last whole
 *   block or tapemark;
 * - then, if the tape is whole and complete except for the end-of-volume mark (a SL tape whose
 *   last data set has its trailer labels and one tapemark, an NL tape ending in one tapemark), the
 *   missing tapemark is appended.
 * Nothing else is changed: damaged headers, blocks that do not decompress, label faults and block
 * counts would need a guess at which bytes are right.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync } from 'node:fs';
import { writeFully } from '../base/file-io.js';
import { PhaseReporter, type OnPhaseProgress } from '../base/phase-progress.js';
import { extname } from 'node:path';
import { assert } from '../base/assert.js';
import { translateIoError } from '../errors/io-error.js';
import { TapeFormatError } from '../errors/snaptape-error.js';
import { tapemarkHeaderBytes } from '../tape/aws-block-header.js';
import { decompressBlock } from '../tape/het-decompress.js';
import { lockTape } from '../tape/tape-lock.js';
import { problem, type CheckFindings, type CheckProblem } from './check-report.js';
import { blockLocation, readStoredBlock, walkTapeChain, type ChainEntry, type TapeChain } from './tape-chain.js';
import { checkTapeLabels, type LabelFindings } from './tape-label-check.js';

export interface TapeInspection {
  readonly findings: CheckFindings;
  readonly chain: TapeChain;
  readonly labels: LabelFindings;
}

function openTape(path: string, flags: string): number {
  try {
    return openSync(path, flags);
  } catch (error) {
    throw translateIoError(error, `open tape ${path}`, path);
  }
}

/** Decompresses every HET block; the ones that fail are problems. Phase verify, in blocks and tapemarks. */
function hetProblems(fd: number, chain: TapeChain, failed: Set<number>, progress: PhaseReporter): CheckProblem[] {
  const problems: CheckProblem[] = [];
  progress.begin('verify', chain.entries.length, 'blocks');
  for (const entry of chain.entries) {
    progress.advance();
    if (entry.kind !== 'block' || entry.compression === 'none') continue;
    try {
      decompressBlock(readStoredBlock(fd, chain.path, entry), entry.compression, {
        path: chain.path,
        blockNumber: entry.blockNumber,
        offsetBytes: entry.offsetBytes,
      });
    } catch (error) {
      if (!(error instanceof TapeFormatError)) throw error;
      failed.add(entry.blockNumber);
      problems.push(problem('het-block', blockLocation(entry.blockNumber, entry.offsetBytes), error.message));
    }
  }
  return problems;
}

/** Reads and checks the whole tape (read-only): phase check over its bytes, then verify over its blocks. */
export function inspectTape(path: string, onProgress?: OnPhaseProgress): TapeInspection {
  const fd = openTape(path, 'r');
  try {
    const progress = new PhaseReporter(onProgress);
    const chain = walkTapeChain(fd, path, fstatSync(fd).size, progress);
    const failed = new Set<number>();
    const het = hetProblems(fd, chain, failed, progress);
    const dataOf = (entry: ChainEntry): Buffer | undefined => {
      if (failed.has(entry.blockNumber)) return undefined;
      const stored = readStoredBlock(fd, path, entry);
      return decompressBlock(stored, entry.compression, { path, blockNumber: entry.blockNumber, offsetBytes: entry.offsetBytes });
    };
    const labels = checkTapeLabels(path, chain.entries, dataOf);
    const het1 = chain.compressed || extname(path).toLowerCase() === '.het';
    const marks = chain.entries.filter((e) => e.kind === 'tapemark').length;
    const kind = labels.labelled ? `SL, volser ${labels.volser ?? '?'}` : 'NL';
    const description = `${het1 ? 'a HET' : 'an AWSTAPE'} tape (${kind}): ${chain.entries.length - marks} blocks, ${marks} tapemarks, ${labels.dataSetCount} data sets, ${chain.sizeBytes} bytes`;
    const problems = [...chain.problems, ...het, ...labels.problems];
    return { findings: { format: het1 ? 'het' : 'aws', description, problems }, chain, labels };
  } finally {
    closeSync(fd);
  }
}

/** A repair is a write: it goes through the tape's lock like every tape writer, so a tape library's rules (WORM, retention) hold for it. */
function withWritableTape<T>(path: string, body: (fd: number) => T): T {
  const lock = lockTape(path);
  let fd: number;
  try {
    fd = openTape(path, 'r+');
  } catch (error) {
    lock.release();
    throw error;
  }
  try {
    const result = body(fd);
    fsyncSync(fd);
    return result;
  } catch (error) {
    throw translateIoError(error, `repair tape ${path}`, path);
  } finally {
    closeSync(fd);
    lock.release();
  }
}

/** Makes the safe repairs (see the module comment); returns what was done. */
export function repairTape(path: string, inspection: TapeInspection): string[] {
  const done: string[] = [];
  const torn = inspection.chain.torn;
  if (torn) {
    const lastWhole = inspection.chain.entries[inspection.chain.entries.length - 1];
    assert(torn.offsetBytes === (lastWhole?.endOffsetBytes ?? 0), `the torn block starts where the last whole entry ends (${torn.offsetBytes})`);
    withWritableTape(path, (fd) => ftruncateSync(fd, torn.offsetBytes));
    done.push(
      `cut off the torn final block ${torn.blockNumber} at byte offset ${torn.offsetBytes} (${inspection.chain.sizeBytes - torn.offsetBytes} bytes of an incomplete block); every whole block before it is kept`,
    );
  }
  const now = torn ? inspectTape(path) : inspection;
  const whole = now.chain.problems.length === 0 && now.chain.torn === undefined;
  const count = now.labels.closableByTapemarks;
  if (whole && count > 0) {
    const last = now.chain.entries[now.chain.entries.length - 1];
    const lastChunk = last?.chunks[last.chunks.length - 1];
    const at = last?.endOffsetBytes ?? 0;
    assert(at === now.chain.sizeBytes, 'tapemarks are appended at the end of a whole tape');
    withWritableTape(path, (fd) => {
      const marks = Array.from({ length: count }, (_, i) => tapemarkHeaderBytes(i === 0 ? (lastChunk?.curlenBytes ?? 0) : 0));
      const bytes = Buffer.concat(marks);
      writeFully(fd, bytes, at, path, 'the closing tapemarks');
    });
    done.push(`appended ${count} tapemark(s) at byte offset ${at} to close the volume (its last data set was complete)`);
  }
  return done;
}

/** Why a kind of tape problem is left as it is. */
export function whyTapeProblemStays(kind: string, repairAsked: boolean): string {
  const reasons: Readonly<Record<string, string>> = {
    'torn-block': repairAsked ? 'not cut off' : 'run check --repair to cut off the incomplete final block (nothing valid is lost)',
    'end-of-volume': repairAsked
      ? 'not closed: the tape ends inside a data set or before its trailer labels; appending tapemarks would pass an incomplete data set off as complete'
      : 'run check --repair to append the missing tapemark when the last data set is complete; a tape that ends inside a data set is left as it is',
    'header-prvlen':
      'a previous-length field that disagrees is left alone: which of the two chunks is damaged cannot be known (copy the data sets out with tape get)',
    'header-flags': 'bad chunk flags are left alone: where a block starts or ends cannot be known',
    'header-length': 'a damaged chunk length is left alone: the real length cannot be known, and cutting the tape there would lose the blocks after it',
    'block-too-long': 'a block longer than Hercules 3.13 reads is left alone: splitting it would change the data',
    'het-block': 'a HET block that does not decompress is lost data; nothing can rebuild it',
    label: 'label fields are left alone: the right values are not knowable',
    'label-sequence': 'the label sequence is left alone: which blocks are missing cannot be known',
    'block-count': 'the EOF1/EOV1 block count is left alone: either the label or the data may be wrong',
    'trailer-label': 'trailer labels that disagree with their header labels are left alone',
  };
  return reasons[kind] ?? 'not repairable';
}
