/**
 * The label side of a tape check: walks the blocks and tapemarks of a standard-labelled tape
 * through the state table of tape/label-sequence.ts (native-layout/tape-label-sequence.md) and, unlike the reader, goes on
 * after a fault where it can: bad label fields, an EOF1/EOV1 block count that disagrees with the
 * data blocks counted, trailer labels naming another data set. An unlabelled tape (first block not
 * VOL1) has no labels; only its end is checked. Both must end with the end-of-volume tapemark pair.
 *
 * Invariants: reads only; the walk stops at the first transition the table does not allow (the
 * state after it is unknowable), and `closableByTapemarks` is set only when the sole fault is the
 * missing last tapemark of the end-of-volume pair after a complete trailer (or a closed NL file).
 */
import { TapeLabelError } from '../errors/snaptape-error.js';
import { DATA_STATES, LABEL_TRANSITIONS, nextLabelState, type LabelEvent, type LabelState } from '../tape/label-sequence.js';
import { decodeStandardLabel, labelIdOf, type DataSetLabel1, type StandardLabel } from '../tape/standard-labels.js';
import { problem, type CheckProblem } from './check-report.js';
import { blockLocation, type ChainEntry } from './tape-chain.js';

export interface LabelFindings {
  readonly labelled: boolean;
  readonly volser: string | undefined;
  readonly dataSetCount: number;
  readonly problems: readonly CheckProblem[];
  /** Tapemarks that, appended, end the volume properly (0: none can). */
  readonly closableByTapemarks: number;
}

/** The decompressed data of a block, or undefined when it cannot be read (reported elsewhere). */
export type BlockData = (entry: ChainEntry) => Buffer | undefined;

interface Tally {
  header1: DataSetLabel1 | undefined;
  dataBlocks: number;
  dataSets: number;
}

function trailerProblems(label: DataSetLabel1, tally: Tally, entry: ChainEntry, path: string): CheckProblem[] {
  const where = blockLocation(entry.blockNumber, entry.offsetBytes);
  const at = `${label.labelId} at block ${entry.blockNumber}, byte offset ${entry.offsetBytes} of ${path}`;
  const found: CheckProblem[] = [];
  if (label.blockCount !== tally.dataBlocks) {
    found.push(
      problem(
        'block-count',
        where,
        `${at} has block count ${label.blockCount}, but data set ${tally.header1?.fileSequence ?? '?'} has ${tally.dataBlocks} data blocks`,
      ),
    );
  }
  if (tally.header1 && label.dsid !== tally.header1.dsid)
    found.push(problem('trailer-label', where, `${at} names data set "${label.dsid}", but its HDR1 names "${tally.header1.dsid}"`));
  if (tally.header1 && label.fileSequence !== tally.header1.fileSequence) {
    found.push(problem('trailer-label', where, `${at} has file sequence ${label.fileSequence}, but its HDR1 has ${tally.header1.fileSequence}`));
  }
  return found;
}

function endLocation(entries: readonly ChainEntry[]): { blockNumber: number; offsetBytes: number } {
  const last = entries[entries.length - 1];
  return { blockNumber: entries.length, offsetBytes: last?.endOffsetBytes ?? 0 };
}

function labelledFindings(path: string, entries: readonly ChainEntry[], dataOf: BlockData): LabelFindings {
  const problems: CheckProblem[] = [];
  const tally: Tally = { header1: undefined, dataBlocks: 0, dataSets: 0 };
  let state: LabelState = 'start';
  let volser: string | undefined;
  for (const entry of entries) {
    if (state === 'end-of-volume') break;
    const where = { path, blockNumber: entry.blockNumber, offsetBytes: entry.offsetBytes };
    let event: LabelEvent = entry.kind === 'tapemark' ? 'TM' : 'data';
    let found = entry.kind === 'tapemark' ? 'a tapemark' : 'a data block';
    let label: StandardLabel | undefined;
    if (entry.kind === 'block' && !DATA_STATES.has(state)) {
      const data = dataOf(entry);
      const labelId = data === undefined ? undefined : labelIdOf(data);
      if (data !== undefined && labelId !== undefined) {
        event = (labelId.startsWith('UHL') || labelId.startsWith('UTL') ? labelId.slice(0, 3) : labelId) as LabelEvent;
        found = labelId;
        try {
          label = decodeStandardLabel(data, where);
        } catch (error) {
          if (!(error instanceof TapeLabelError)) throw error;
          problems.push(problem('label', blockLocation(entry.blockNumber, entry.offsetBytes), error.message));
        }
      } else if (data !== undefined) {
        found = `a ${data.length}-byte block that is not a label`;
      }
    }
    const next: LabelState | undefined = LABEL_TRANSITIONS[state][event];
    if (next === undefined) {
      try {
        nextLabelState(state, event, found, where);
      } catch (error) {
        if (!(error instanceof TapeLabelError)) throw error;
        problems.push(problem('label-sequence', blockLocation(entry.blockNumber, entry.offsetBytes), error.message));
      }
      return { labelled: true, volser, dataSetCount: tally.dataSets, problems, closableByTapemarks: 0 };
    }
    if (event === 'data' && next === 'data') tally.dataBlocks += 1;
    if (label?.labelId === 'VOL1') volser = label.volser;
    if (label?.labelId === 'HDR1') Object.assign(tally, { header1: label, dataBlocks: 0 });
    if (label?.labelId === 'EOF1' || label?.labelId === 'EOV1') {
      tally.dataSets += 1;
      problems.push(...trailerProblems(label, tally, entry, path));
    }
    state = next;
  }
  const end = endLocation(entries);
  if (state === 'end-of-volume' || LABEL_TRANSITIONS[state].end !== undefined)
    return { labelled: true, volser, dataSetCount: tally.dataSets, problems, closableByTapemarks: 0 };
  const closable = state === 'trailer-end' || state === 'eov-end';
  if (closable) {
    problems.push(
      problem(
        'end-of-volume',
        blockLocation(end.blockNumber, end.offsetBytes),
        `the tape ${path} ends at byte offset ${end.offsetBytes} (block ${end.blockNumber}) after its trailer labels without the second tapemark of the end-of-volume pair (TM TM)`,
      ),
    );
  } else {
    try {
      nextLabelState(state, 'end', 'the end of the file', { path, ...end });
    } catch (error) {
      if (!(error instanceof TapeLabelError)) throw error;
      problems.push(problem('label-sequence', blockLocation(end.blockNumber, end.offsetBytes), error.message));
    }
  }
  return { labelled: true, volser, dataSetCount: tally.dataSets, problems, closableByTapemarks: closable ? 1 : 0 };
}

function unlabelledFindings(path: string, entries: readonly ChainEntry[]): LabelFindings {
  const last = entries[entries.length - 1];
  const beforeLast = entries[entries.length - 2];
  // Data sets: the physical files that hold blocks (a blank tape, TM TM, holds none).
  const files = entries.filter((e, i) => e.kind === 'tapemark' && entries[i - 1]?.kind === 'block').length;
  const end = endLocation(entries);
  const where = blockLocation(end.blockNumber, end.offsetBytes);
  if (last === undefined)
    return {
      labelled: false,
      volser: undefined,
      dataSetCount: 0,
      problems: [problem('end-of-volume', where, `the tape ${path} holds no block and no tapemark`)],
      closableByTapemarks: 0,
    };
  if (last.kind === 'tapemark' && beforeLast?.kind === 'tapemark')
    return { labelled: false, volser: undefined, dataSetCount: files, problems: [], closableByTapemarks: 0 };
  if (last.kind === 'tapemark') {
    return {
      labelled: false,
      volser: undefined,
      dataSetCount: files,
      problems: [
        problem(
          'end-of-volume',
          where,
          `the tape ${path} ends at byte offset ${end.offsetBytes} (block ${end.blockNumber}) after one tapemark, without the second of the end-of-volume pair (TM TM)`,
        ),
      ],
      closableByTapemarks: 1,
    };
  }
  return {
    labelled: false,
    volser: undefined,
    dataSetCount: files,
    problems: [
      problem(
        'end-of-volume',
        where,
        `the tape ${path} ends at byte offset ${end.offsetBytes} (block ${end.blockNumber}) inside a file: no tapemark after block ${last.blockNumber}`,
      ),
    ],
    closableByTapemarks: 0,
  };
}

/** Checks the labels (SL) or the end (NL) of the tape whose entries are `entries`. */
export function checkTapeLabels(path: string, entries: readonly ChainEntry[], dataOf: BlockData): LabelFindings {
  const first = entries[0];
  const firstData = first?.kind === 'block' ? dataOf(first) : undefined;
  const labelled = firstData !== undefined && labelIdOf(firstData) === 'VOL1';
  return labelled ? labelledFindings(path, entries, dataOf) : unlabelledFindings(path, entries);
}
