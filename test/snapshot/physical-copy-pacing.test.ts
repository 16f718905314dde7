/**
 * Layer: integration. The snapshot's physical copy paced as the token record says: with
 * `pauseAfter 30, pauseMs 200` the copy of a 20-cylinder target stops 200 ms after every 30
 * tracks copied (its run takes at least that long, and the image still equals the target);
 * pacing without a physical copy is refused before anything is written.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareImages } from '../../src/api/drill-api.js';
import { openVolume } from '../../src/api/volume-api.js';
import { UsageError } from '../../src/errors/snaptape-error.js';
import type { MappedVolumeBackend } from '../../src/subsystem/mapped-volume-backend.js';
import { UNALLOCATED_SLOT } from '../../src/subsystem/subsystem-layouts.js';
import { runPhysicalCopy } from '../../src/techniques/snapshot/physical-copy.js';
import { defineSnapshot, executeSnapshot } from '../../src/techniques/snapshot/snapshot-protocol.js';
import { makeTempDir } from '../harness/temp-dir.js';
import { makeSubsystem } from './helpers/subsystem-fixtures.js';

const PAUSE_AFTER = 30;
const PAUSE_MS = 200;

describe('snapshot physical copy pacing', () => {
  it(`pauses ${PAUSE_MS} ms after every ${PAUSE_AFTER} tracks; pacing without --physical is refused`, async () => {
    const dir = makeTempDir('snaptape-physical-pacing-');
    try {
      const { sub, source } = makeSubsystem(dir.path, { cylinders: 20 });
      const target = join(sub, 'TGT');
      const defined = defineSnapshot(source, target, { volser: 'TGT001' });
      expect(() => executeSnapshot(defined.token, { pacing: { pauseAfter: PAUSE_AFTER } })).toThrow(UsageError);

      const physical = join(dir.path, 'physical.ckd');
      const executed = executeSnapshot(defined.token, { physical, pacing: { pauseAfter: PAUSE_AFTER, pauseMs: PAUSE_MS } });
      expect(executed.state).toBe('copying');
      const volume = openVolume(target);
      let tracks = 0;
      try {
        for (const slot of (volume.imageBackend as MappedVolumeBackend).directory.slots) if (slot !== UNALLOCATED_SLOT) tracks++;
      } finally {
        volume.close();
      }
      const started = Date.now();
      const done = await runPhysicalCopy(executed.pollingToken);
      const ms = Date.now() - started;
      const pauses = Math.floor((tracks - 1) / PAUSE_AFTER);
      console.log(`physical copy of ${tracks} tracks with a slot in ${ms} ms (${pauses} pauses of ${PAUSE_MS} ms expected)`);
      expect(done.state).toBe('complete');
      expect(pauses).toBeGreaterThanOrEqual(4);
      expect(ms).toBeGreaterThanOrEqual(pauses * PAUSE_MS);
      expect(compareImages(target, physical).mismatched).toBe(0);
    } finally {
      dir.cleanup();
    }
  }, 60_000);
});
