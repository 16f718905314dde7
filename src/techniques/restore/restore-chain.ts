/**
 * A chain of backup tapes: a full backup, then incrementals (or differentials), each naming its base
 * in its labels (the base's checkpoint, tape volser and whole-tape SHA-256). `restoreChain` restores
 * the full backup and then each incremental's tracks over it, so the target holds the last tape's
 * instant; `verifyChain` checks each tape and that every link's base is the tape before it.
 * Nothing is written unless every tape verifies and every link matches.
 */
import { UsageError, VerifyError } from '../../errors/snaptape-error.js';
import { openVolume } from '../../volume/open-volume.js';
import { fitVtocToVolume } from '../../vtoc/vtoc-writer.js';
import { digestWholeTape } from '../tape-backup/backup-digest.js';
import { blocksOf, checkElementsVerified, openBackupTape, verifyBackupTape, type BackupTape, type ElementCheck, type TapeVerifyReport } from './backup-tape.js';
import { requireFbaBytesMatch, requireIncrementalsFit, requireLabelsMatch } from './tape-trust.js';
import { readPass, restoreFbaBlocks, restoreTape, restoreVolumeElement, type RestoreOptions, type RestoreResult } from './restore-tape.js';

export interface ChainLink {
  readonly path: string;
  readonly volser: string;
  /** The checkpoint the tape's backup set (null: made without change tracking). */
  readonly checkpoint: string | null;
  readonly base: { readonly checkpoint: string; readonly volser: string; readonly sha256: string } | null;
  /** SHA-256 of the whole tape. */
  readonly sha256: string;
  /** Why this link does not follow the one before it (null: it does). */
  readonly problem: string | null;
}

export interface ChainVerifyReport {
  readonly tapes: readonly (TapeVerifyReport & { readonly link: ChainLink })[];
  readonly ok: boolean;
}

export interface ChainRestoreResult extends RestoreResult {
  /** Each incremental applied after the full backup, with the tracks or blocks it wrote. */
  readonly incrementals: readonly { readonly path: string; readonly elements: readonly (ElementCheck & { readonly unitsWritten: number })[] }[];
}

/** Reads each tape's chain labels and checks every link against the tape before it. */
export function chainLinks(paths: readonly string[]): ChainLink[] {
  if (paths.length === 0) throw new UsageError('Cannot use an empty chain: give the full backup first, then its incrementals in order');
  const links: ChainLink[] = [];
  paths.forEach((path, i) => {
    const tape = openBackupTape(path);
    try {
      const previous = links[i - 1];
      const base = tape.chain?.base ?? null;
      let problem: string | null = null;
      if (i === 0 && base) problem = `it is an incremental since checkpoint ${base.checkpoint} (tape ${base.volser}): a chain starts with a full backup`;
      else if (i === 0 && !tape.elements.some((e) => e.description.kind === 'volume')) problem = 'it holds no whole volume: a chain starts with a full backup';
      else if (previous && !base) problem = `it is not an incremental (its labels name no base), so it cannot follow ${previous.path}`;
      else if (previous && base) problem = linkProblem(previous, base);
      links.push({
        path,
        volser: tape.volser,
        checkpoint: tape.chain?.checkpoint ?? null,
        base,
        sha256: digestWholeTape(path),
        problem,
      });
    } finally {
      tape.reader.close();
    }
  });
  return links;
}

/**
 * The links of a chain that follows, or a VerifyError naming the first tape that does not: what
 * `restore` and `serve --tape` require before they read a byte of the chain's data.
 */
export function requireChainFollows(paths: readonly string[], action: string): ChainLink[] {
  const links = chainLinks(paths);
  const broken = links.find((l) => l.problem !== null);
  if (broken) throw new VerifyError(`Cannot ${action} the chain: ${broken.path} does not follow: ${broken.problem}`, { path: broken.path });
  return links;
}

function linkProblem(previous: ChainLink, base: NonNullable<ChainLink['base']>): string | null {
  if (previous.checkpoint !== base.checkpoint)
    return `its base is checkpoint ${base.checkpoint}, but ${previous.path} set checkpoint ${previous.checkpoint ?? '(none)'}`;
  if (previous.volser !== base.volser) return `its base is tape ${base.volser}, but ${previous.path} is tape ${previous.volser}`;
  if (previous.sha256 !== base.sha256) return `its base tape has SHA-256 ${base.sha256}, but ${previous.path} has ${previous.sha256}`;
  return null;
}

/**
 * `verify --chain`: every tape verified (structure, labels, digests, and every block as its restore
 * checks it: verifyBackupTape), and every link's base matched. A chain that verifies is then
 * checked for what its restore requires of the chain beyond each tape: every incremental's runs fit
 * the full backup's volume. A verify that said OK of a chain its restore refuses would lie, so it
 * throws the error that restore would (UsageError, TapeFormatError) naming the tape.
 */
export function verifyChain(paths: readonly string[]): ChainVerifyReport {
  const links = chainLinks(paths);
  const tapes = paths.map((path, i) => ({ ...verifyBackupTape(path, {}, i > 0), link: links[i] as ChainLink }));
  const ok = tapes.every((t) => t.ok && t.link.problem === null);
  // The tapes' own checks ran above: what is left is how each incremental fits the full backup.
  if (ok) eachIncremental(paths, undefined, (fullTape, tape) => requireIncrementalsFit('verify', fullTape, [tape]));
  return { tapes, ok };
}

/** Runs `visit` on each incremental of the chain `paths`, with the full backup open beside it. */
function eachIncremental<T>(
  paths: readonly string[],
  onProgress: RestoreOptions['onProgress'],
  visit: (fullTape: BackupTape, tape: BackupTape, path: string) => T,
): T[] {
  const fullTape = openBackupTape(paths[0] as string);
  try {
    return paths.slice(1).map((path) => {
      const tape = openBackupTape(path, { onProgress });
      try {
        return visit(fullTape, tape, path);
      } finally {
        tape.reader.close();
      }
    });
  } finally {
    fullTape.reader.close();
  }
}

/**
 * What a chain's restore requires of its incrementals before it writes a byte: each one's labels
 * match, its runs fit the full backup's volume (a CKD run: one tape block per track it records),
 * its digests match, every block fits its element (requireBlockFits), and an FBA run's blocks hold
 * exactly the blocks it records (requireFbaBytesMatch): the checks of verifyBackupTape and
 * verifyChain, made in one pass. Returns each incremental's element checks; throws UsageError,
 * VerifyError or TapeFormatError naming the tape.
 */
function checkChainIncrementals(paths: readonly string[], onProgress?: RestoreOptions['onProgress']): ElementCheck[][] {
  return eachIncremental(paths, onProgress, (fullTape, tape, path) => {
    requireLabelsMatch('restore from', tape);
    requireIncrementalsFit('restore', fullTape, [tape]);
    tape.progress.begin('sha256', blocksOf(tape.elements), 'blocks');
    const { checks, settle } = checkElementsVerified(tape, tape.elements);
    const bad = checks.find((c) => !c.ok);
    if (bad)
      throw new VerifyError(`Cannot restore the chain: ${bad.name} of ${path} has ${bad.digest} ${bad.sha256}, the tape records ${bad.recorded}`, { path });
    settle();
    // A run's tape blocks hold its blocks and no more (a CKD run: one block per track, above).
    if (tape.source.kind === 'fba') tape.elements.forEach((e, i) => requireFbaBytesMatch(tape, e, checks[i] as ElementCheck));
    return checks;
  });
}

/**
 * Restores a chain: the full backup (restoreTape, with every option it takes but `dataset`), then
 * each incremental's units in order. Throws VerifyError for a broken link or a tape that does not
 * verify, before anything is written.
 */
export function restoreChain(paths: readonly string[], options: RestoreOptions): ChainRestoreResult {
  if (paths.length === 1) {
    const only = restoreTape(paths[0] as string, options);
    return { ...only, incrementals: [] };
  }
  if (options.dataset !== undefined || options.tapeStartBlock !== undefined) {
    throw new UsageError('Cannot restore a chain of tapes with --dataset or --fba-block: a chain restores a whole volume from tape files');
  }
  requireChainFollows(paths, 'restore');
  // Every incremental verifies, and fits the full backup's volume, before the first byte is
  // written (restoreTape verifies the full).
  const incrementals = checkChainIncrementals(paths, options.onProgress);
  const full = restoreTape(paths[0] as string, options);
  const applied = paths.slice(1).map((path, i) => ({ path, elements: applyIncremental(path, options, incrementals[i] as ElementCheck[]) }));
  return { ...full, incrementals: applied };
}

function applyIncremental(path: string, options: RestoreOptions, checks: readonly ElementCheck[]): (ElementCheck & { readonly unitsWritten: number })[] {
  const tape: BackupTape = openBackupTape(path, { onProgress: options.onProgress });
  try {
    const volume = openVolume(options.to);
    try {
      tape.progress.begin('copy', blocksOf(tape.elements), 'blocks');
      const written = tape.elements.map((e) =>
        tape.source.kind === 'ckd' ? restoreVolumeElement(volume, tape, e, readPass(tape, e)) : restoreFbaBlocks(volume, tape, e, readPass(tape, e)),
      );
      // A bigger target's VTOC takes its size (as the full restore's did); a same-size one is the source's.
      if (tape.source.kind === 'ckd' && volume.ckd.cylinders > tape.source.size) fitVtocToVolume(volume);
      volume.sync();
      return checks.map((c, i) => ({ ...c, unitsWritten: written[i] as number }));
    } finally {
      volume.close();
    }
  } finally {
    tape.reader.close();
  }
}
