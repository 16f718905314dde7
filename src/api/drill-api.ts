/**
 * A restore drill: back up a volume under a synthetic host load, restore the tape into a scratch
 * volume, and compare it unit by unit with the volume's content at the backup's start instant (a
 * reference copy made in that same synchronous instant). By default the drill runs on a scratch
 * copy of the image, so the user's volume is never written; `inPlace` runs it on the image itself.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restoreChain } from '../techniques/restore/restore-chain.js';
import { ChangeTracker } from '../techniques/tracking/change-tracker.js';
import type { HostLoadSpec } from '../workload/host-load.js';
import type { TrackMapSnapshot } from '../session/session-view.js';
import type { BackupProgress } from '../techniques/tape-backup/tape-backup-session.js';
import { runBackup, type BackupRun } from './backup-api.js';
import type { Volume } from '../volume/volume.js';
import { openVolume, withVolumeAsync } from './volume-api.js';
import { makeScratchCopy } from '../volume/scratch-copy.js';
import { TRACKS_PER_CYLINDER } from '../geometry/device-types.js';
import { PhaseReporter, type OnPhaseProgress } from '../base/phase-progress.js';

/** Units compared per read while checking the restore: one cylinder. */
const COMPARE_UNITS_PER_READ = TRACKS_PER_CYLINDER;

export interface DrillOptions {
  readonly image: string;
  readonly workers?: number;
  readonly load: HostLoadSpec;
  readonly seed?: number;
  readonly inPlace?: boolean;
  readonly keep?: boolean;
  readonly onProgress?: (progress: BackupProgress) => void;
  /**
   * The phases after the backups: the restore of each tape (SHA-256, then copy of its blocks), then
   * its comparison with the point in time (verify, in units).
   */
  readonly onPhaseProgress?: OnPhaseProgress;
  /** Called with the backup's final track map (the tape, in the scratch directory, is removed). */
  readonly onTrackMap?: (map: TrackMapSnapshot) => void;
  /**
   * Then N incremental backups, each under the same load (the work volume is tracked for it); the
   * chain up to each tape is restored and compared with that tape's instant.
   */
  readonly incremental?: number;
}

/** One incremental of a drill: its backup, and its chain's restore compared with its instant. */
export interface DrillIncremental {
  readonly backup: BackupRun;
  readonly restoreSeconds: number;
  readonly comparison: UnitComparison;
}

export interface UnitComparison {
  readonly units: number;
  readonly mismatched: number;
  readonly firstMismatch: number | null;
}

export interface DrillReport {
  readonly image: string;
  readonly scratchDir: string;
  readonly backup: BackupRun;
  readonly restoreSeconds: number;
  readonly comparison: UnitComparison;
  /** With `incremental`: each incremental in order (the fields above are the full backup's). */
  readonly incrementals?: readonly DrillIncremental[];
  readonly pass: boolean;
}

export interface CompareOptions {
  /** One phase, verify, counted in units (tracks or blocks) compared. */
  readonly onProgress?: OnPhaseProgress;
}

/**
 * Compares two volumes of the same geometry slot by slot: any kind `openVolume` opens (image files,
 * compressed images, mapped volumes of a subsystem folder), read-only, through `volume.backend`.
 */
export function compareImages(referencePath: string, candidatePath: string, options: CompareOptions = {}): UnitComparison {
  const a = openVolume(referencePath, { readOnly: true });
  let b: Volume;
  try {
    b = openVolume(candidatePath, { readOnly: true });
  } catch (error) {
    a.close();
    throw error;
  }
  try {
    const units = a.unitCount;
    const slotBytes = a.backend.slotBytes;
    if (units !== b.unitCount || slotBytes !== b.backend.slotBytes) return { units, mismatched: units, firstMismatch: 0 };
    let mismatched = 0;
    let firstMismatch: number | null = null;
    const progress = new PhaseReporter(options.onProgress);
    progress.begin('verify', units, a.geometry.kind === 'ckd' ? 'tracks' : 'blocks');
    for (let u = 0; u < units; u += COMPARE_UNITS_PER_READ) {
      const count = Math.min(COMPARE_UNITS_PER_READ, units - u);
      const x = a.backend.readUnits(u, count);
      const y = b.backend.readUnits(u, count);
      for (let k = 0; k < count; k++) {
        const from = k * slotBytes;
        if (x.compare(y, from, from + slotBytes, from, from + slotBytes) !== 0) {
          mismatched++;
          firstMismatch ??= u + k;
        }
      }
      progress.advance(count);
    }
    return { units, mismatched, firstMismatch };
  } finally {
    a.close();
    b.close();
  }
}

/** A restore drill: backs up a copy of the image (or the image, `inPlace`) under a synthetic load, restores it into scratch and compares the restore with the point in time; the report counts mismatched units. Throws what runBackup and restoreTape throw. */
export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const scratchDir = mkdtempSync(join(tmpdir(), 'snaptape-drill-'));
  try {
    const work = options.inPlace ? options.image : makeScratchCopy(options.image, scratchDir).path;
    const count = options.incremental ?? 0;
    const references = Array.from({ length: count + 1 }, (_, k) => join(scratchDir, `reference${k}.img`));
    const tapes = Array.from({ length: count + 1 }, (_, k) => join(scratchDir, k === 0 ? 'drill.aws' : `drill-inc${k}.aws`));
    const backups = await withVolumeAsync(work, {}, async (volume) => {
      if (count > 0) ChangeTracker.enable(volume);
      const runs: BackupRun[] = [];
      for (let k = 0; k <= count; k++) {
        runs.push(
          await runBackup(volume, {
            tapePath: tapes[k] as string,
            workers: options.workers,
            load: options.load,
            loadSeed: (options.seed ?? 1) + k,
            incremental: k > 0,
            onProgress: options.onProgress,
            onTrackMap: k === 0 ? options.onTrackMap : undefined,
            onStartInstant: () => copyFileSync(work, references[k] as string),
          }),
        );
      }
      return runs;
    });
    const restores = tapes.map((_, k) => {
      const restored = join(scratchDir, `restored${k}.img`);
      const started = Date.now();
      restoreChain(tapes.slice(0, k + 1), { to: restored, newVolume: true, onProgress: options.onPhaseProgress });
      const restoreSeconds = (Date.now() - started) / 1000;
      return { restoreSeconds, comparison: compareImages(references[k] as string, restored, { onProgress: options.onPhaseProgress }) };
    });
    const first = restores[0] as (typeof restores)[number];
    const incrementals = restores.slice(1).map((r, i) => ({ backup: backups[i + 1] as BackupRun, ...r }));
    return {
      image: options.image,
      scratchDir: options.keep ? scratchDir : '(removed)',
      backup: backups[0] as BackupRun,
      restoreSeconds: first.restoreSeconds,
      comparison: first.comparison,
      ...(count > 0 ? { incrementals } : {}),
      pass: restores.every((r) => r.comparison.mismatched === 0),
    };
  } finally {
    if (!options.keep) rmSync(scratchDir, { recursive: true, force: true });
  }
}
