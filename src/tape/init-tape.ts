/**
 * Makes a blank tape (`tape init`): an SL tape as IEHINITT / `hetinit -d` writes it (VOL1, a dummy
 * HDR1, one tapemark: vector 05) or an NL tape of two tapemarks (`hetinit -d -n`: vector 06). It is
 * an empty tape plan written by the mapped writer, so it is verified like any planned tape.
 */
import { UsageError } from '../errors/snaptape-error.js';
import { MappedTapeWriter } from './mapped-tape-writer.js';
import { withTapeLock } from './tape-lock.js';
import { planTape } from './tape-plan.js';

/** Volume serials: 1–6 of A–Z, 0–9 and the national characters (native-layout/ebcdic.md). */
const VOLSER_PATTERN = /^[A-Z0-9@#$-]{1,6}$/;
/** VOL1 columns 42–51. */
const MAX_OWNER_LENGTH = 10;

export interface InitTapeOptions {
  readonly labelled: boolean;
  readonly volser?: string;
  readonly owner?: string;
  readonly force?: boolean;
}

export interface InitTapeResult {
  readonly path: string;
  readonly labelled: boolean;
  readonly volser: string;
  readonly owner: string;
  readonly sizeBytes: number;
}

/** Checks a user-given volser and returns it in upper case. */
export function checkVolser(volser: string | undefined): string {
  const upper = (volser ?? '').toUpperCase();
  if (!VOLSER_PATTERN.test(upper)) {
    throw new UsageError(`Cannot use volume serial "${volser ?? ''}": it must be 1 to 6 characters of A-Z, 0-9, @, # or $`, { volser: volser ?? '' });
  }
  return upper;
}

/** Creates an empty AWSTAPE tape, with IBM standard labels (VOL1) when `labelled`. Throws UsageError for a bad volser or owner, TargetExistsError when the file exists without `force`. */
export function initTape(path: string, options: InitTapeOptions): InitTapeResult {
  const volser = options.labelled ? checkVolser(options.volser) : '';
  const owner = options.owner ?? '';
  if (owner.length > MAX_OWNER_LENGTH) {
    throw new UsageError(`Cannot use owner "${owner}": it has more than ${MAX_OWNER_LENGTH} characters`, { owner });
  }
  const plan = planTape({ volser, owner, labelled: options.labelled, files: [] });
  const verification = withTapeLock(path, (lock) => MappedTapeWriter.create(path, plan, { force: options.force ?? false, lock }).finish());
  return { path, labelled: options.labelled, volser, owner, sizeBytes: verification.sizeBytes };
}
