/**
 * A restore drill: back up a volume under a synthetic host load, restore the tape into a scratch
 * volume, and compare it unit by unit with the volume's content at the backup's start instant (a
 * reference copy made in that same synchronous instant). By default the drill runs on a scratch
 * copy of the image, so the user's volume is never written; `inPlace` runs it on the image itself.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restoreTape } from '../techniques/restore/restore-tape.js';
import type { HostLoadSpec } from '../workload/host-load.js';
import type { TrackMapSnapshot } from '../session/session-view.js';
import type { BackupProgress } from '../techniques/tape-backup/tape-backup-session.js';
import { runBackup, type BackupRun } from './backup-api.js';
import type { Volume } from '../volume/volume.js';
import { openVolume, withVolumeAsync } from './volume-api.js';
import { makeScratchCopy } from '../volume/scratch-copy.js';
import { TRACKS_PER_CYLINDER } from '../geometry/device-types.js';

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
  /** Called with the backup's final track map (the tape, in the scratch directory, is removed). */
  readonly onTrackMap?: (map: TrackMapSnapshot) => void;
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
  readonly pass: boolean;
}

/**
 * Compares two volumes of the same geometry slot by slot: any kind `openVolume` opens (image files,
 * compressed images, mapped volumes of a subsystem folder), read-only, through `volume.backend`.
 */
export function compareImages(referencePath: string, candidatePath: string): UnitComparison {
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
    const reference = join(scratchDir, 'reference.img');
    const tape = join(scratchDir, 'drill.aws');
    const restored = join(scratchDir, 'restored.img');
    const backup = await withVolumeAsync(work, {}, (volume) =>
      runBackup(volume, {
        tapePath: tape,
        workers: options.workers,
        load: options.load,
        loadSeed: options.seed ?? 1,
        onProgress: options.onProgress,
        onTrackMap: options.onTrackMap,
        onStartInstant: () => copyFileSync(work, reference),
      }),
    );
    const restoreStarted = Date.now();
    restoreTape(tape, { to: restored, newVolume: true });
    const restoreSeconds = (Date.now() - restoreStarted) / 1000;
    const comparison = compareImages(reference, restored);
    return { image: options.image, scratchDir: options.keep ? scratchDir : '(removed)', backup, restoreSeconds, comparison, pass: comparison.mismatched === 0 };
  } finally {
    if (!options.keep) rmSync(scratchDir, { recursive: true, force: true });
  }
}
