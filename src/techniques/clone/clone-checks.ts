/**
 * What CREATE checks before it makes anything, so that a refused CREATE leaves no bit, no
 * interceptor and no record behind: the two volumes are different, open, of one geometry, the
 * destination is large enough (for a whole volume), writable, and in no other session; the source has a free PB slot.
 */
import { SessionError, UsageError } from '../../errors/snaptape-error.js';
import { MAX_COPY_WORKERS } from '../../engine/copy-pool.js';
import type { Volume } from '../../volume/volume.js';
import { destinationHolder, isCloneSource } from './protection-bits.js';

export interface CloneCheckOptions {
  readonly workers?: number;
  readonly throttleMbps?: number;
  readonly pauseAfter?: number;
  readonly pauseMs?: number;
  readonly precopy?: boolean;
  readonly activate?: boolean;
}

/**
 * Refuses a destination of another geometry (device family, slot size), or with fewer units for a
 * whole-volume clone. An extent-mode clone (`extentMode`) places its data sets in the destination's
 * free space (clone-catalog.ts), which refuses a destination without room for them, small or not.
 */
export function checkGeometry(source: Volume, target: Volume, session: string, extentMode = false): void {
  const s = source.geometry;
  const t = target.geometry;
  const refuse = (why: string): never => {
    throw new UsageError(`Cannot create clone session ${session} from ${source.path} onto ${target.path}: ${why}`, {
      source: source.path,
      target: target.path,
    });
  };
  if (s.kind !== t.kind) refuse(`the source is ${s.kind === 'ckd' ? 'CKD' : 'FBA'} and the destination ${t.kind === 'ckd' ? 'CKD' : 'FBA'}`);
  if (s.kind === 'ckd' && t.kind === 'ckd' && s.family !== t.family)
    refuse(`the source is a ${s.typeName} and the destination a ${t.typeName} (another geometry)`);
  if (source.backend.slotBytes !== target.backend.slotBytes) {
    refuse(`the source has ${source.backend.slotBytes}-byte slots and the destination ${target.backend.slotBytes}-byte slots (another geometry)`);
  }
  if (target.unitCount < source.unitCount && !extentMode) {
    const unit = s.kind === 'ckd' ? 'tracks' : 'blocks';
    refuse(`the destination is too small: it has ${target.unitCount} ${unit}, the source ${source.unitCount}`);
  }
}

export function checkParticipants(source: Volume, target: Volume, session: string): void {
  const refuse = (why: string): never => {
    throw new SessionError(`Cannot create clone session ${session} from ${source.path} onto ${target.path}: ${why}`, {
      source: source.path,
      target: target.path,
    });
  };
  if (source === target || source.path === target.path) refuse('the source and the destination are the same volume');
  if (target.readOnly) refuse('the destination is open read-only');
  const holder = destinationHolder(target);
  if (holder !== undefined) refuse(`the destination is already the destination of clone session ${holder}`);
  if (isCloneSource(target)) refuse('the destination is the source of another clone session');
  if (target.interceptorNames().length > 0) refuse(`the destination is in other sessions (${target.interceptorNames().join(', ')})`);
  const sourceHolder = destinationHolder(source);
  if (sourceHolder !== undefined) refuse(`the source is the destination of clone session ${sourceHolder}, which is not terminated`);
}

export function checkCloneOptions(options: CloneCheckOptions, session: string): void {
  const bad = (what: string): never => {
    throw new UsageError(`Cannot create clone session ${session}: ${what}`, {});
  };
  if (options.workers !== undefined && (!Number.isInteger(options.workers) || options.workers < 1 || options.workers > MAX_COPY_WORKERS)) {
    bad(`${options.workers} workers is outside 1-${MAX_COPY_WORKERS}`);
  }
  if (options.throttleMbps !== undefined && !(Number.isFinite(options.throttleMbps) && options.throttleMbps > 0))
    bad(`a throttle of ${options.throttleMbps} MB/s is not a rate above 0`);
  if (options.pauseAfter !== undefined && !(Number.isInteger(options.pauseAfter) && options.pauseAfter >= 0))
    bad(`--pause-after ${options.pauseAfter} is not a count`);
  if (options.pauseMs !== undefined && !(Number.isInteger(options.pauseMs) && options.pauseMs >= 0)) bad(`--pause-ms ${options.pauseMs} is not a number of ms`);
  if (options.precopy && options.activate) bad('choose --precopy or an ACTIVE COPY (CREATE + ACTIVATE), not both');
}
