/**
 * Layer: scenario (issue 22 review). A backup's start is one synchronous stretch, then turns of the
 * event loop of its own: its first record and layout, the pool's start, each worker's task, the
 * digest's task. Host writes that land exactly in those gaps (in the start's own stretch, from a
 * microtask or nextTick right after it, and in each of the next turns) aimed at tracks no worker
 * has claimed yet, at the last track, at the VOL1 track and at the VTOC, are copied before they
 * land: the restored tape equals a copy of the source taken at the start instant.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { trackIndexOf } from '../../src/geometry/cchh.js';
import { restoreTape } from '../../src/techniques/restore/restore-tape.js';
import { TapeBackupSession } from '../../src/techniques/tape-backup/tape-backup-session.js';
import { readVolumeLabel } from '../../src/vtoc/volume-label.js';
import { makeFilledVolume, Prng, randomHostWrite } from '../harness/backup-fixtures.js';
import { makeTempDir } from '../harness/temp-dir.js';

const temp = makeTempDir('snaptape-gaps-');
afterAll(() => temp.cleanup());

interface Variant {
  readonly name: string;
  readonly workers: number;
  readonly spool?: boolean;
}

const VARIANTS: readonly Variant[] = [
  { name: 'one worker', workers: 1 },
  { name: 'three workers (tasks queued over three turns)', workers: 3 },
  { name: 'two workers through a spool', workers: 2, spool: true },
];

describe('host writes in the turns right after a backup starts', () => {
  it.each(VARIANTS)(
    'are copied before they land ($name)',
    async (variant) => {
      const dir = join(temp.path, variant.name.replace(/\W+/g, '-'));
      mkdirSync(dir);
      const prng = new Prng(22 + variant.workers);
      const volume = makeFilledVolume(dir, { cylinders: 6, seed: 22, percent: 100 });
      try {
        const geometry = volume.ckd;
        const vtocTrack = trackIndexOf(geometry, readVolumeLabel(volume).vtocPointer);
        const last = geometry.trackCount - 1;
        // Aimed at the tracks the workers take last and at the labels: none is claimed in these turns.
        const targets = [last, vtocTrack, 0, last - 1, geometry.trackCount >> 1, vtocTrack, last, 1];
        const reference = join(dir, 'reference.ckd');
        const tape = join(dir, 'gaps.aws');
        copyFileSync(volume.path, reference);
        const session = TapeBackupSession.start(volume, {
          tapePath: tape,
          workers: variant.workers,
          throttleMbps: 2,
          ...(variant.spool ? { spoolPath: join(dir, 'gaps.spool') } : {}),
        });
        let next = 0;
        const write = (): void => {
          randomHostWrite(volume, targets[next % targets.length] as number, prng);
          next++;
        };
        // In the start's own stretch, then before its first turn (microtask, nextTick).
        write();
        queueMicrotask(write);
        process.nextTick(write);
        // Then one write in each of the turns where the record, the pool and the tasks start.
        for (let turn = 0; turn < 12; turn++) {
          await nextTurn();
          write();
        }
        const summary = await session.done;
        expect(next, 'every write landed').toBe(15);
        expect(summary.copiedOutOfOrder, 'the writes raced the copy').toBeGreaterThan(0);
        volume.close();
        const restored = join(dir, 'restored.ckd');
        restoreTape(tape, { to: restored, newVolume: true });
        expect(compareImages(reference, restored).mismatched, 'tracks differing from the start instant').toBe(0);
      } finally {
        volume.close();
      }
    },
    60_000,
  );
});
