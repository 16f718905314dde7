/**
 * What a whole-volume backup of a tracked volume adds: the checkpoint it sets at its start instant
 * (named after the tape), and for an incremental its base and the units to copy. Chosen in the
 * backup's synchronous prepare, so the changed units and the checkpoint are of one instant.
 *
 * The base of an incremental (`--incremental`) is the last checkpoint whose backup completed;
 * `--since` names another one (a differential), by checkpoint name or by its backup tape. Only a
 * checkpoint of a complete backup can be a base: the tape states its base tape (volser and SHA-256).
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { SessionError, UsageError } from '../../errors/snaptape-error.js';
import type { Volume } from '../../volume/volume.js';
import type { ChainDescription } from '../tape-backup/backup-labels.js';
import { digestWholeTape } from '../tape-backup/backup-digest.js';
import { readTapeChain } from './tape-chain-info.js';
import { notTracked, trackerOf, usableCheckpoint, type ChangeTracker } from './change-tracker.js';
import { checkpointValid, type Checkpoint } from './tracking-file.js';

export interface IncrementalRequest {
  readonly tapePath: string;
  readonly incremental?: boolean;
  /** A checkpoint name, or a backup tape of this volume. */
  readonly since?: string;
  readonly datasets?: readonly string[];
  readonly blockRanges?: readonly unknown[];
}

export interface BackupChainPlan {
  readonly tracker: ChangeTracker;
  /** What the tape's first element says (its checkpoint, and an incremental's base). */
  readonly chain: ChainDescription;
  /** An incremental's units (1 per unit to copy); undefined for a full backup. */
  readonly changedUnits?: Uint8Array;
}

/** The checkpoint a backup to `tapePath` sets: the tape's file name, made a valid name. */
export function backupCheckpointName(tapePath: string): string {
  const name = basename(tapePath)
    .replace(/[^A-Za-z0-9._:-]/g, '_')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 40);
  return name || 'backup';
}

/**
 * The chain plan of a backup, or undefined when it sets no checkpoint (an untracked volume, or a
 * backup of data sets or block ranges). Refuses an incremental, with the reason, when it cannot be
 * made truthfully.
 */
export function planBackupChain(volume: Volume, request: IncrementalRequest): BackupChainPlan | undefined {
  const incremental = request.incremental === true || request.since !== undefined;
  const partial = (request.datasets?.length ?? 0) > 0 || (request.blockRanges?.length ?? 0) > 0;
  const tracker = trackerOf(volume);
  if (incremental && partial)
    throw new UsageError(`Cannot make an incremental backup of data sets or block ranges of ${volume.path}: it is of the whole volume`);
  if (!tracker) {
    if (incremental) throw notTracked(volume.path);
    return undefined;
  }
  if (partial) return undefined;
  const checkpoint = backupCheckpointName(request.tapePath);
  if (!incremental) return { tracker, chain: { checkpoint } };
  const base = request.since === undefined ? lastCompleteBackup(volume, tracker) : namedBase(volume, tracker, request.since);
  if (base.name === checkpoint) {
    throw new UsageError(
      `Cannot back up ${volume.path} to ${request.tapePath} incrementally: its base ${base.name} is the tape's own checkpoint (name the new tape differently)`,
    );
  }
  const tape = base.tape;
  if (!tape?.complete || tape.sha256 === undefined) {
    throw new SessionError(`Cannot make an incremental backup of ${volume.path} since ${base.name}: no complete backup tape was made at that checkpoint`, {
      path: volume.path,
      checkpoint: base.name,
    });
  }
  const changedUnits = tracker.changedSince(base.name);
  return { tracker, chain: { checkpoint, base: { checkpoint: base.name, volser: tape.volser, sha256: tape.sha256 } }, changedUnits };
}

function lastCompleteBackup(volume: Volume, tracker: ChangeTracker): Checkpoint {
  const state = tracker.state;
  const last = [...state.checkpoints].reverse().find((c) => c.tape?.complete);
  if (!last) {
    throw new SessionError(
      `Cannot make an incremental backup of ${volume.path}: no full backup of it completed since its change tracking began; run a full backup first`,
      {
        path: volume.path,
      },
    );
  }
  if (!checkpointValid(state, last)) usableCheckpoint(volume.path, state, last.name);
  return last;
}

/** `--since`: a checkpoint name, or a tape (a file that exists) whose CHAIN label names one. */
function namedBase(volume: Volume, tracker: ChangeTracker, since: string): Checkpoint {
  const state = tracker.state;
  if (state.checkpoints.some((c) => c.name === since) || !existsSync(since)) return usableCheckpoint(volume.path, state, since);
  const chain = readTapeChain(since).chain;
  if (!chain) throw new UsageError(`Cannot make a backup since ${since}: the tape sets no checkpoint (it was not made with change tracking)`, { tape: since });
  const checkpoint = usableCheckpoint(volume.path, state, chain.checkpoint);
  const sha256 = digestWholeTape(since);
  if (checkpoint.tape?.sha256 !== sha256) {
    throw new SessionError(
      `Cannot make a backup since ${since}: checkpoint ${checkpoint.name} of ${volume.path} was set by another tape (${checkpoint.tape?.path ?? 'none'}, SHA-256 ${checkpoint.tape?.sha256 ?? 'unknown'})`,
      { tape: resolve(since), checkpoint: checkpoint.name },
    );
  }
  return checkpoint;
}
