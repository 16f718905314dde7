/**
 * Reads a snaptape backup tape: its standard labels (checked by the tape layer), the user labels
 * that describe the source and each element, and where each element's blocks are. A tape whose
 * session record says it never finished is refused as incomplete.
 */
import { PhaseReporter, type OnPhaseProgress } from '../../base/phase-progress.js';
import { VerifyError } from '../../errors/snaptape-error.js';
import { readTapeContents } from '../../tape/tape-contents.js';
import { checkTapeNotBeingWritten } from '../../tape/tape-lock.js';
import type { TapeIndex } from '../../tape/tape-index.js';
import { TapeReader, type ReadWindows } from '../../tape/tape-reader.js';
import { fbaTapeRegion, WHOLE_FILE } from '../../tape/tape-region.js';
import { FBA_BLOCK_BYTES } from '../../geometry/device-types.js';
import { readSessionRecord, sessionRecordKey } from '../tape-backup/session-record.js';
import {
  parseChainDescription,
  parseDigest,
  parseElementDescription,
  parseSourceDescription,
  type ChainDescription,
  type ElementDescription,
  type SourceDescription,
} from '../tape-backup/backup-labels.js';
import { parseLabelDigest } from '../tape-backup/label-digest.js';
import { ElementHasher, type ElementDigestKind } from '../tape-backup/element-digest.js';
import { checkElementLabels, requireFbaBytesMatch, requirePlaceable, verifyPassCheck, type LabelCheck } from './tape-trust.js';

export interface TapeElement {
  readonly name: string;
  readonly fileSequence: number;
  readonly description: ElementDescription;
  /** UTL1's construction (element-digest.ts): BLKSHA256, or SHA256 on tapes written before it. */
  readonly digest: ElementDigestKind;
  /** UTL1's digest (hex), of the construction `digest` names. */
  readonly sha256: string;
  /** SHA-256 of the element's labels (UTL2); undefined on tapes written before it. */
  readonly labelsSha256: string | undefined;
  readonly firstBlockNumber: number;
  readonly blockCount: number;
}

export interface BackupTape {
  readonly path: string;
  readonly volser: string;
  readonly source: SourceDescription;
  /** Its place in a chain (the first element's CHAIN and BASE labels); undefined without them. */
  readonly chain?: ChainDescription;
  readonly elements: readonly TapeElement[];
  readonly reader: TapeReader;
  /** Counts the blocks forEachBlock reads, in the phase its caller began (no-op without a listener). */
  readonly progress: PhaseReporter;
}

/** Refuses a tape whose backup session did not complete (its record stays beside the tape). */
export function checkSessionComplete(tapePath: string): void {
  const record = readSessionRecord(tapePath);
  if (record && record.status !== 'completed') {
    throw new VerifyError(`Cannot use ${tapePath}: its backup is incomplete (session ${record.status}${record.reason ? `: ${record.reason}` : ''})`, {
      path: tapePath,
      status: record.status,
    });
  }
}

/**
 * Refuses a tape file that a backup is still writing (LOCKED) or whose backup stopped (incomplete),
 * for every reader of a tape file (`tape ls`, `tape get`, restore, verify): its bytes past the last
 * block written are not a tape. A tape no snaptape backup wrote has no record and passes.
 */
export function checkTapeFinished(tapePath: string): void {
  checkTapeNotBeingWritten(tapePath);
  checkSessionComplete(tapePath);
}

export interface TapeLocation {
  /** The tape is on the FBA volume `path` from this block, not in a file of its own. */
  readonly startBlock?: number;
  /** Told each phase (sha256, verify, copy) and the blocks read in it. */
  readonly onProgress?: OnPhaseProgress;
  /**
   * The tape's index, made apart from it (a vaulted cartridge's manifest): the file is then read
   * without a header walk, and only the blocks read need be present.
   */
  readonly index?: TapeIndex;
}

export function openBackupTape(path: string, location: TapeLocation = {}): BackupTape {
  // A backup still writing the tape is "being written" (LOCKED), not "incomplete": the latter is
  // for a session that stopped (its record stays), which only a resume or a new backup mends.
  if (location.startBlock === undefined) checkTapeNotBeingWritten(path);
  checkSessionComplete(sessionRecordKey({ tapePath: path, tapeStartBlock: location.startBlock }));
  const region = location.startBlock === undefined ? WHOLE_FILE : fbaTapeRegion(location.startBlock, FBA_BLOCK_BYTES);
  const reader = location.index === undefined ? TapeReader.open(path, region) : TapeReader.openIndexed(path, location.index);
  try {
    const contents = readTapeContents(reader);
    if (contents.dataSets.length === 0) throw new VerifyError(`Cannot restore from ${path}: the tape holds no data sets`, { path });
    const where = (seq: number): string => `${path} file ${seq}`;
    const first = contents.dataSets[0]!;
    const source = parseSourceDescription(
      first.userHeaderLabels.map((l) => l.userData),
      where(first.fileSequence),
    );
    const chain = parseChainDescription(
      first.userHeaderLabels.map((l) => l.userData),
      where(first.fileSequence),
    );
    const elements = contents.dataSets.map((ds) => {
      const userHeaders = ds.userHeaderLabels.map((l) => l.userData);
      const recorded = parseDigest(
        ds.userTrailerLabels.map((l) => l.userData),
        where(ds.fileSequence),
      );
      return {
        name: ds.dsid,
        fileSequence: ds.fileSequence,
        description: parseElementDescription(userHeaders, where(ds.fileSequence)),
        digest: recorded.kind,
        sha256: recorded.hex,
        labelsSha256: parseLabelDigest(
          ds.userTrailerLabels.map((l) => l.userData),
          where(ds.fileSequence),
        ),
        firstBlockNumber: ds.firstDataBlockNumber,
        blockCount: ds.dataBlockCount,
      };
    });
    return {
      path,
      volser: contents.volume?.volser ?? '',
      source,
      ...(chain ? { chain } : {}),
      elements,
      reader,
      progress: new PhaseReporter(location.onProgress),
    };
  } catch (error) {
    reader.close();
    throw error;
  }
}

/**
 * Reads an element's blocks in order, calling `visit` with each: sequential 8 MiB reads into the
 * reader's one buffer (TapeReader.forEachBlockData). A block is valid only during `visit`.
 */
export function forEachBlock(tape: BackupTape, element: TapeElement, visit: (block: Buffer, index: number) => void, windows?: ReadWindows): void {
  tape.reader.forEachBlockData(
    element.firstBlockNumber,
    element.blockCount,
    (data, blockNumber) => {
      visit(data, blockNumber - element.firstBlockNumber);
      tape.progress.advance();
    },
    windows,
  );
}

/**
 * The digest of an element's blocks, in order, in the construction its UTL1 names
 * (tape-backup/element-digest.ts): on this thread, or on a worker (background-hash.ts), which then
 * gives the windows the tape is read into.
 */
export interface BlockHash {
  /** Starts an element's digest in construction `kind`. */
  begin(kind: ElementDigestKind): void;
  /** One whole block's payload, in tape order. */
  update(block: Buffer): void;
  /** The hex digest of every block updated since `begin`. */
  digest(): string;
  readonly windows?: ReadWindows;
}

function hashHereAndNow(): BlockHash {
  let hasher = new ElementHasher('BLKSHA256');
  return {
    begin: (kind) => {
      hasher = new ElementHasher(kind);
    },
    update: (block) => hasher.update(block),
    digest: () => hasher.digest().toString('hex'),
  };
}

export interface ElementCheck {
  readonly name: string;
  readonly blocks: number;
  readonly bytes: number;
  /** The construction UTL1 names, in which `sha256` was computed. */
  readonly digest: ElementDigestKind;
  readonly sha256: string;
  readonly recorded: string;
  readonly ok: boolean;
}

/**
 * Hashes an element's blocks, in the construction its UTL1 names, and checks the digest against
 * UTL1. With `visit`, each block is also
 * handed to it after it is hashed, in the same pass: a restore writes what it hashes, reading the
 * tape once (the block is valid only during `visit`, as in forEachBlock). `hash`: where the SHA-256
 * runs (a restore's worker); this thread by default.
 */
export function checkElement(
  tape: BackupTape,
  element: TapeElement,
  visit?: (block: Buffer, index: number) => void,
  hash: BlockHash = hashHereAndNow(),
): ElementCheck {
  let bytes = 0;
  hash.begin(element.digest);
  forEachBlock(
    tape,
    element,
    (block, index) => {
      hash.update(block);
      bytes += block.length;
      visit?.(block, index);
    },
    hash.windows,
  );
  const sha256 = hash.digest();
  return {
    name: element.description.dsname ?? element.name,
    blocks: element.blockCount,
    bytes,
    digest: element.digest,
    sha256,
    recorded: element.sha256,
    ok: sha256 === element.sha256,
  };
}

export interface TapeVerifyReport {
  readonly path: string;
  readonly volser: string;
  readonly source: SourceDescription;
  readonly elements: readonly ElementCheck[];
  /** Each element's labels against UTL2. */
  readonly labels: readonly LabelCheck[];
  readonly ok: boolean;
}

export interface VerifiedElements {
  readonly checks: ElementCheck[];
  /** Throws what the blocks of an element whose digest matched were found to be (TapeFormatError). */
  readonly settle: () => void;
}

/**
 * checkElement of each of `elements`, with the checks of the pass that verifies an element
 * (tape-trust.ts verifyPassCheck): what `verify`, a restore and a chain's restore require of the
 * blocks before they trust them. A block that does not fit its element is thrown in the pass; the
 * rest waits for `settle`, which the caller calls once it has dealt with the digests.
 */
export function checkElementsVerified(tape: BackupTape, elements: readonly TapeElement[]): VerifiedElements {
  const passes = elements.map((e) => verifyPassCheck(tape, e));
  const checks = elements.map((e, i) => checkElement(tape, e, passes[i]!.visit));
  return { checks, settle: () => passes.forEach((pass, i) => pass.settle(checks[i]!)) };
}

/** Blocks of `elements` on the tape: the total of a phase that reads them all. */
export function blocksOf(elements: readonly TapeElement[]): number {
  return elements.reduce((sum, e) => sum + e.blockCount, 0);
}

/**
 * `snaptape verify`: reads the whole tape and checks every element's digest against UTL1 (phase
 * sha256, in blocks), its labels against UTL2 (phase verify, in elements). `linkOfChain`: the tape
 * is a link after the first of a chain being verified, whose links are checked apart
 * (restore-chain.ts): a tape there that names no base is a broken link, not a lone tape.
 */
export function verifyBackupTape(path: string, location: TapeLocation = {}, linkOfChain = false): TapeVerifyReport {
  const tape = openBackupTape(path, location);
  try {
    // A tape that names no base is restored alone: what that restore would not place, it refuses.
    if (!linkOfChain && tape.chain?.base === undefined) tape.elements.forEach((e) => requirePlaceable(tape, e));
    tape.progress.begin('sha256', blocksOf(tape.elements), 'blocks');
    // What a restore refuses before it writes, verify refuses too (tape-trust.ts): an OK of a tape
    // its restore refuses would lie. TapeFormatError naming the tape, the element and the block.
    const verified = checkElementsVerified(tape, tape.elements);
    verified.settle();
    const elements = verified.checks;
    if (tape.source.kind === 'fba') {
      tape.elements.forEach((e, i) => {
        const check = elements[i] as ElementCheck;
        // A digest that does not match is reported as it always was; only a verified pass is sized.
        if (check.ok) requireFbaBytesMatch(tape, e, check);
      });
    }
    tape.progress.begin('verify', tape.elements.length, 'elements');
    const labels = tape.elements.map((e) => {
      const check = checkElementLabels(tape, e);
      tape.progress.advance();
      return check;
    });
    return { path, volser: tape.volser, source: tape.source, elements, labels, ok: elements.every((e) => e.ok) && labels.every((l) => l.ok) };
  } finally {
    tape.reader.close();
  }
}
