/**
 * A one-shot clone in this process: CREATE → PRECOPY (optional) → ACTIVATE → wait → TERMINATE,
 * with both images locked by this process throughout (`runClone`), and the same ending for a
 * session taken up after a crash (`finishClone`, api/clone-api.ts `resumeClone`).
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openVolume } from '../../volume/open-volume.js';
import { CloneSession, type CloneStatus } from './clone-session.js';
import type { OnPhaseProgress } from '../../base/phase-progress.js';

/** Longest a one-shot precopy runs before ACTIVATE when no time is given: a first pass is enough. */
export const MAX_PRECOPY_WAIT_MS = 10 * 60_000;
/** How often the one-shot run looks at its precopy. */
const PRECOPY_POLL_MS = 20;
/** How often the one-shot run reports its copy to `onProgress`: smooth enough for a bar. */
const PROGRESS_POLL_MS = 100;

export interface RunCloneOptions {
  readonly precopy?: boolean;
  /** Precopy for this long before ACTIVATE; default: until a pass leaves no track to copy. */
  readonly precopyMs?: number;
  readonly datasets?: readonly string[];
  readonly workers?: number;
  readonly throttleMbps?: number;
  readonly pauseAfter?: number;
  readonly pauseMs?: number;
  readonly onStatus?: (status: CloneStatus) => void;
  /**
   * One phase, copy: the units (tracks or blocks) the destination holds of the total, from the
   * precopy through the copy after ACTIVATE (a precopy's count goes down when the host rewrites a
   * copied unit). Reported every PROGRESS_POLL_MS and once at the end.
   */
  readonly onProgress?: OnPhaseProgress;
}

export interface RunCloneResult {
  readonly atActivate: CloneStatus;
  readonly final: CloneStatus;
  readonly precopyMs: number;
  /** ACTIVATE until every track was copied. */
  readonly backgroundCopyMs: number;
}

/** A one-shot clone in this process: CREATE, PRECOPY, ACTIVATE, wait for the copy, TERMINATE. Rejects with the errors of openVolume (LockedError when either volume is in use) and with the typed error of a clone that fails. */
export async function runClone(sourcePath: string, targetPath: string, options: RunCloneOptions = {}): Promise<RunCloneResult> {
  // Absolute paths, so the record names the images wherever a resume runs from.
  const source = openVolume(resolve(sourcePath));
  try {
    const target = openVolume(resolve(targetPath));
    try {
      const session = CloneSession.create(source, target, {
        precopy: options.precopy,
        datasets: options.datasets,
        workers: options.workers,
        throttleMbps: options.throttleMbps,
        pauseAfter: options.pauseAfter,
        pauseMs: options.pauseMs,
      });
      return await finishClone(session, options);
    } finally {
      target.close();
    }
  } finally {
    source.close();
  }
}

/** The rest of a one-shot clone: PRECOPY (if asked, or already running), ACTIVATE, wait, TERMINATE. */
export async function finishClone(session: CloneSession, options: RunCloneOptions): Promise<RunCloneResult> {
  session.on('progress', (s: CloneStatus) => options.onStatus?.(s));
  const unit = session.source.geometry.kind === 'ckd' ? 'tracks' : 'blocks';
  const report = (): void => {
    if (!options.onProgress) return;
    const s = session.progress();
    options.onProgress?.({ phase: 'copy', done: s.tracksTotal - s.tracksLeft, total: s.tracksTotal, unit });
  };
  const timer = options.onProgress ? setInterval(report, PROGRESS_POLL_MS) : undefined;
  try {
    return await finishCopy(session, options, report);
  } finally {
    clearInterval(timer);
  }
}

async function finishCopy(session: CloneSession, options: RunCloneOptions, report: () => void): Promise<RunCloneResult> {
  const precopyStarted = Date.now();
  if (options.precopy || session.phase === 'precopy') {
    const limit = options.precopyMs ?? MAX_PRECOPY_WAIT_MS;
    // Bounded by `limit`: a precopy with no rewritten tracks ends when its first passes are done.
    while (Date.now() - precopyStarted < limit && (options.precopyMs !== undefined || session.progress().tracksLeft > 0)) await sleep(PRECOPY_POLL_MS);
  }
  const precopyMs = Date.now() - precopyStarted;
  if (session.phase === 'created' || session.phase === 'precopy') session.activate();
  const atActivate = session.progress();
  const activated = Date.now();
  await session.whenCopied();
  report();
  const backgroundCopyMs = Date.now() - activated;
  session.terminate();
  return { atActivate, final: session.progress(), precopyMs, backgroundCopyMs };
}
