/**
 * The label sequence of a standard-labelled tape as a state table (native-layout/tape-label-sequence.md):
 *
 *   VOL1 HDR1 HDR2 [UHL1..8] TM  data… TM  EOF1 EOF2 [UTL1..8] TM   (data set 1)
 *        HDR1 HDR2 [UHL1..8] TM  data… TM  EOF1 EOF2 [UTL1..8] TM   (data set 2 …)
 *                                                              TM   (end of volume)
 *
 * plus EOV1 EOV2 [UTL] TM TM for a data set continued on another volume, and the empty tape that
 * IEHINITT/`hetinit` writes: VOL1 HDR1 TM (then the end of the file, or one more TM).
 * Every transition goes through `nextLabelState`, which checks it against the table and raises a
 * TapeLabelError naming the block number and byte offset of the event that does not fit.
 */
import { TapeLabelError } from '../errors/snaptape-error.js';
import type { LabelLocation } from './standard-labels.js';

export type LabelState =
  | 'start'
  | 'vol1'
  | 'hdr1'
  | 'hdr2'
  | 'uhl'
  | 'data'
  | 'data-end'
  | 'eof1'
  | 'eof2'
  | 'utl'
  | 'trailer-end'
  | 'eov1'
  | 'eov2'
  | 'eov-utl'
  | 'eov-end'
  | 'initialized'
  | 'end-of-volume';

/** One block's meaning in the sequence: a label id (user labels without their digit), a data block, a tapemark, or the end of the file. */
export type LabelEvent = 'VOL1' | 'HDR1' | 'HDR2' | 'EOF1' | 'EOF2' | 'EOV1' | 'EOV2' | 'UHL' | 'UTL' | 'data' | 'TM' | 'end';

export const LABEL_TRANSITIONS: Readonly<Record<LabelState, Partial<Readonly<Record<LabelEvent, LabelState>>>>> = {
  start: { VOL1: 'vol1' },
  vol1: { HDR1: 'hdr1' },
  hdr1: { HDR2: 'hdr2', TM: 'initialized' },
  hdr2: { UHL: 'uhl', TM: 'data' },
  uhl: { UHL: 'uhl', TM: 'data' },
  data: { data: 'data', TM: 'data-end' },
  'data-end': { EOF1: 'eof1', EOV1: 'eov1' },
  eof1: { EOF2: 'eof2' },
  eof2: { UTL: 'utl', TM: 'trailer-end' },
  utl: { UTL: 'utl', TM: 'trailer-end' },
  'trailer-end': { HDR1: 'hdr1', TM: 'end-of-volume' },
  eov1: { EOV2: 'eov2' },
  eov2: { UTL: 'eov-utl', TM: 'eov-end' },
  'eov-utl': { UTL: 'eov-utl', TM: 'eov-end' },
  'eov-end': { TM: 'end-of-volume' },
  initialized: { end: 'end-of-volume', TM: 'end-of-volume' },
  'end-of-volume': {},
};

/** States in which every block is data, even one that looks like a label. */
export const DATA_STATES: ReadonlySet<LabelState> = new Set<LabelState>(['data']);

const EXPECTED_TEXT: Readonly<Record<LabelEvent, string>> = {
  VOL1: 'VOL1',
  HDR1: 'HDR1',
  HDR2: 'HDR2',
  EOF1: 'EOF1',
  EOF2: 'EOF2',
  EOV1: 'EOV1',
  EOV2: 'EOV2',
  UHL: 'a user header label',
  UTL: 'a user trailer label',
  data: 'a data block',
  TM: 'a tapemark',
  end: 'the end of the file',
};

/** Checks one event against the table and returns the next state. */
export function nextLabelState(state: LabelState, event: LabelEvent, found: string, where: LabelLocation): LabelState {
  const next = LABEL_TRANSITIONS[state][event];
  if (next !== undefined) return next;
  const allowed = (Object.keys(LABEL_TRANSITIONS[state]) as LabelEvent[]).map((e) => EXPECTED_TEXT[e]);
  const expected = allowed.length === 0 ? 'nothing more' : allowed.join(' or ');
  throw new TapeLabelError(
    `Cannot read the labels of ${where.path}: expected ${expected} in state ${state}, found ${found} at block ${where.blockNumber}, byte offset ${where.offsetBytes}`,
    { ...where, state, event },
  );
}
